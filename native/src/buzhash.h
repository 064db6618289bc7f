// The dynamic chunker's hot loop: rolling buzhash over a buffer.
#pragma once

#include <napi.h>

namespace bulwark {

// buzhashScan(buf: Uint8Array, tail: Uint8Array(64), start: number, end: number,
//             state: Int32Array(1), d: number, table: Uint32Array(256)): number
Napi::Value BuzhashScan(const Napi::CallbackInfo& info);

}  // namespace bulwark
