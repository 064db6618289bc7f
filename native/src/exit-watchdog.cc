// armExitWatchdog(ms, code): a detached thread that ends the process with
// _exit(code) once ms milliseconds have passed. Node 20 can hang in its own
// exit (nodejs/node#54918: the main thread waits for V8's background tasks
// while one of them waits for the main thread to collect garbage); a
// process that has put everything on disk and decided to exit arms this
// first, so that it ends even then. A normal exit before the deadline ends
// the thread with the process. Arming again keeps the first deadline.
#include "exit-watchdog.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace bulwark {

namespace {
std::atomic<bool> armed{false};
}  // namespace

Napi::Value ArmExitWatchdog(const Napi::CallbackInfo& info) {
  const int64_t ms = info[0].As<Napi::Number>().Int64Value();
  const int code = info[1].As<Napi::Number>().Int32Value();
  if (!armed.exchange(true)) {
    std::thread([ms, code] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      _exit(code);
    }).detach();
  }
  return info.Env().Undefined();
}

}  // namespace bulwark
