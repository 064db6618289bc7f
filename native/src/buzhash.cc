// The dynamic chunker's scan (client/chunker/dynamic-chunker.ts scanRolling,
// which stays as the fallback and the reference): rolls bytes start..end-1
// of `buf` into the 64-byte-window buzhash held in state[0] and stops just
// past the first position where h % d == d - 1. Bytes leaving the window
// before index 64 come from `tail`, the 64 stream bytes before `buf`.
//
// Native because it is the client's largest single cost in a first backup:
// every payload byte passes through it on the main thread, about 230 MB/s
// in JavaScript against ~1 GB/s here. Synchronous: one call covers up to a
// whole input buffer and never touches the file system.
//
// The table comes from JavaScript (client/chunker/buzhash.ts) on every call,
// so there is one definition of it; the cut test is the JavaScript one: a
// mask filter on the low bits (d = 3 * 2^k), then the exact modulo.
#include "buzhash.h"

#include <cstdint>
#include <string>

namespace bulwark {
namespace {

inline uint32_t Rotl1(uint32_t h) { return (h << 1) | (h >> 31); }

uint32_t ToIndex(const Napi::Value& value, const char* what) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a number");
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(value.Env(), std::string(what) + " must be an integer from 0 to 2^32-1");
  }
  return static_cast<uint32_t>(d);
}

}  // namespace

Napi::Value BuzhashScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 7 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[4].IsTypedArray() || !info[6].IsTypedArray()) {
    throw Napi::TypeError::New(env, "buzhashScan(buf, tail, start, end, state, d, table)");
  }
  const auto buf = info[0].As<Napi::Uint8Array>();
  const auto tail = info[1].As<Napi::Uint8Array>();
  uint32_t i = ToIndex(info[2], "start");
  const uint32_t end = ToIndex(info[3], "end");
  auto state = info[4].As<Napi::Int32Array>();
  const uint32_t d = ToIndex(info[5], "d");
  const auto table = info[6].As<Napi::Uint32Array>();
  if (buf.TypedArrayType() != napi_uint8_array || tail.TypedArrayType() != napi_uint8_array || tail.ElementLength() != 64) {
    throw Napi::TypeError::New(env, "buf and tail must be Uint8Arrays, tail of 64 bytes");
  }
  if (state.TypedArrayType() != napi_int32_array || state.ElementLength() < 1) throw Napi::TypeError::New(env, "state must be an Int32Array");
  if (table.TypedArrayType() != napi_uint32_array || table.ElementLength() != 256) throw Napi::TypeError::New(env, "table must be a Uint32Array of 256");
  if (end > buf.ElementLength() || i > end) throw Napi::RangeError::New(env, "start <= end <= buf.length is required");
  if (d == 0) throw Napi::RangeError::New(env, "d must be positive");

  const uint8_t* b = buf.Data();
  const uint8_t* t = tail.Data();
  const uint32_t* T = table.Data();
  const uint32_t dm1 = d - 1;
  const uint32_t mask = (d & (~d + 1)) - 1;  // 2^k - 1, 2^k the largest power of two dividing d
  const uint32_t low = dm1 & mask;
  uint32_t h = static_cast<uint32_t>(state[0]);
  for (; i < end && i < 64; i++) {
    h = Rotl1(h) ^ T[t[i]] ^ T[b[i]];
    if ((h & mask) == low && h % d == dm1) {
      state[0] = static_cast<int32_t>(h);
      return Napi::Number::New(env, i + 1);
    }
  }
  // The two table loads do not depend on h: XOR them first, so the chain
  // from one byte's hash to the next is a rotate and one XOR.
  for (; i < end; i++) {
    const uint32_t x = T[b[i - 64]] ^ T[b[i]];
    h = Rotl1(h) ^ x;
    if ((h & mask) == low && h % d == dm1) {
      state[0] = static_cast<int32_t>(h);
      return Napi::Number::New(env, i + 1);
    }
  }
  state[0] = static_cast<int32_t>(h);
  return Napi::Number::New(env, -1);
}

}  // namespace bulwark
