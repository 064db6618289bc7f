// A directory's entries with their lstat, in one call.
#pragma once

#include <napi.h>

namespace bulwark {

// scanDir(path: Buffer | string): Buffer (layout in scandir.cc)
Napi::Value ScanDir(const Napi::CallbackInfo& info);

}  // namespace bulwark
