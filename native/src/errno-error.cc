#include "errno-error.h"

#include <uv.h>

namespace bulwark {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string* path) {
  // libuv's codes are negated errnos on Unix; its names and texts are the
  // ones Node puts in fs errors.
  const int uvErr = -err;
  std::string message = std::string(uv_err_name(uvErr)) + ": " + uv_strerror(uvErr) + ", " + syscall;
  if (path != nullptr) message += " '" + *path + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, uvErr));
  error.Set("code", Napi::String::New(env, uv_err_name(uvErr)));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) error.Set("path", Napi::String::New(env, *path));
  return error;
}

}  // namespace bulwark
