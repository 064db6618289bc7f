// Nanosecond file times. libuv's uv_fs_utime takes a double of seconds and
// truncates to microseconds, so Node cannot set the times it reports in
// stat's mtimeNs; these call utimensat(2) / futimens(2) directly.
//
// Synchronous on purpose: each call is a single metadata syscall (about a
// microsecond on a local file system, no data I/O), while an async worker's
// thread-pool round trip costs tens of microseconds, and a restore makes one
// call per entry. The extractor's other per-file calls (fchmod, lchown…) are
// synchronous for the same reason. On a stalled network file system this
// blocks the event loop like those calls do.
//
// Times arrive as BigInt nanoseconds since the epoch (int64: years 1677 to
// 2262) and are split with floor division, so a time before 1970 becomes a
// negative tv_sec with tv_nsec in 0..999999999, as the kernel requires.
#include "times.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errno-error.h"

namespace bulwark {
namespace {

constexpr int64_t kNsPerSec = 1000000000;

timespec ToTimespec(const Napi::Value& value, const char* what) {
  if (!value.IsBigInt()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a bigint of nanoseconds");
  bool lossless = false;
  const int64_t ns = value.As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(value.Env(), std::string(what) + " is outside the int64 range of nanoseconds");
  int64_t sec = ns / kNsPerSec;
  int64_t nsec = ns % kNsPerSec;
  if (nsec < 0) {  // C++ division truncates toward zero; the kernel wants floor
    nsec += kNsPerSec;
    sec -= 1;
  }
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(nsec);
  return ts;
}

// Path bytes as given: a Buffer is taken verbatim (names need not be UTF-8).
std::string ToPath(const Napi::Value& value) {
  if (value.IsBuffer()) {
    const auto buf = value.As<Napi::Buffer<char>>();
    std::string path(buf.Data(), buf.Length());
    if (path.empty() || path.find('\0') != std::string::npos) {
      throw Napi::TypeError::New(value.Env(), "path must be non-empty and contain no NUL byte");
    }
    return path;
  }
  if (value.IsString()) {
    std::string path = value.As<Napi::String>().Utf8Value();
    if (path.empty() || path.find('\0') != std::string::npos) {
      throw Napi::TypeError::New(value.Env(), "path must be non-empty and contain no NUL byte");
    }
    return path;
  }
  throw Napi::TypeError::New(value.Env(), "path must be a Buffer or a string");
}

}  // namespace

Napi::Value Utimens(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[3].IsBoolean()) throw Napi::TypeError::New(env, "utimens(path, atimeNs, mtimeNs, nofollow)");
  const std::string path = ToPath(info[0]);
  const timespec times[2] = {ToTimespec(info[1], "atimeNs"), ToTimespec(info[2], "mtimeNs")};
  const int flags = info[3].As<Napi::Boolean>().Value() ? AT_SYMLINK_NOFOLLOW : 0;
  if (utimensat(AT_FDCWD, path.c_str(), times, flags) != 0) throw ErrnoError(env, errno, "utimensat", &path);
  return env.Undefined();
}

Napi::Value Futimens(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "futimens(fd, atimeNs, mtimeNs)");
  const double fdValue = info[0].As<Napi::Number>().DoubleValue();
  const int fd = static_cast<int>(fdValue);
  if (fd < 0 || static_cast<double>(fd) != fdValue) throw Napi::TypeError::New(env, "fd must be a non-negative integer");
  const timespec times[2] = {ToTimespec(info[1], "atimeNs"), ToTimespec(info[2], "mtimeNs")};
  if (futimens(fd, times) != 0) throw ErrnoError(env, errno, "futimens");
  return env.Undefined();
}

}  // namespace bulwark
