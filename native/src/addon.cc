// bulwark_native: the project's own addon. A flat set of functions, no
// classes or wrapped objects (STYLE.md point 15); native/index.ts validates
// arguments before calling them. Exports:
//   utimens(path, atimeNs, mtimeNs, nofollow)   times.cc
//   futimens(fd, atimeNs, mtimeNs)              times.cc
//   buzhashScan(buf, tail, start, end, state, d, table)   buzhash.cc
//   scanDir(path)                               scandir.cc
//   armExitWatchdog(ms, code)                   exit-watchdog.cc
// The SG_IO tape functions (open, sgio, close) join this list later.
#include <napi.h>

#include "buzhash.h"
#include "exit-watchdog.h"
#include "scandir.h"
#include "times.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("utimens", Napi::Function::New(env, bulwark::Utimens, "utimens"));
  exports.Set("futimens", Napi::Function::New(env, bulwark::Futimens, "futimens"));
  exports.Set("buzhashScan", Napi::Function::New(env, bulwark::BuzhashScan, "buzhashScan"));
  exports.Set("scanDir", Napi::Function::New(env, bulwark::ScanDir, "scanDir"));
  exports.Set("armExitWatchdog", Napi::Function::New(env, bulwark::ArmExitWatchdog, "armExitWatchdog"));
  return exports;
}

}  // namespace

NODE_API_MODULE(bulwark_native, Init)
