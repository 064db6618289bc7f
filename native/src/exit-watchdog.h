#pragma once
#include <napi.h>

namespace bulwark {
Napi::Value ArmExitWatchdog(const Napi::CallbackInfo& info);
}  // namespace bulwark
