// Errors from failed system calls, shaped like Node's own fs errors so that
// callers branch on the same `code` strings (libuv's names: ENOENT, ENOTSUP…):
//   message  "ENOENT: no such file or directory, utimensat '/x'"
//   code     "ENOENT"
//   errno    -2 (negative, as Node reports it)
//   syscall  "utimensat"
//   path     "/x" (only for calls that take a path)
#pragma once

#include <napi.h>

#include <string>

namespace bulwark {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string* path = nullptr);

}  // namespace bulwark
