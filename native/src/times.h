// Nanosecond file times: utimensat(2) and futimens(2).
#pragma once

#include <napi.h>

namespace bulwark {

// utimens(path: Buffer | string, atimeNs: bigint, mtimeNs: bigint, nofollow: boolean): undefined
Napi::Value Utimens(const Napi::CallbackInfo& info);

// futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): undefined
Napi::Value Futimens(const Napi::CallbackInfo& info);

}  // namespace bulwark
