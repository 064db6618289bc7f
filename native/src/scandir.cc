// scanDir: a directory's entries, sorted by name bytes, each with its
// lstat, packed into one Buffer. The backup walk made two calls into Node
// per entry (readdir's names, then lstat by absolute path, each building
// JavaScript objects); an incremental backup of a tree of small files is
// mostly that walk. Here it is getdents and fstatat relative to the open
// directory, in a loop, and one Buffer back.
//
// The directory is opened O_NOFOLLOW: the walk has just lstat'ed it as a
// directory, and a symlink swapped in since must not be followed.
//
// Layout, little endian, one record per entry ("." and ".." left out):
//   nameLen u16 ‖ name ‖ err i32
//   err == 0:  mode u32 ‖ uid u32 ‖ gid u32 ‖ nlink u32
//              ‖ size u64 ‖ ino u64 ‖ dev u64 ‖ rdev u64
//              ‖ mtimeSec i64 ‖ mtimeNsec u32 ‖ ctimeSec i64 ‖ ctimeNsec u32
//   err != 0:  nothing more; err is the errno of that entry's fstatat
//              (e.g. ENOENT when it vanished between getdents and fstatat)
// 64-bit fields are written as two u32 halves (low first), so JavaScript
// reads them as Numbers without BigInt arithmetic.
#include "scandir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "errno-error.h"

namespace bulwark {
namespace {

constexpr size_t kStatBytes = 4 * 4 + 8 * 4 + 8 + 4 + 8 + 4;

class Packer {
 public:
  void U16(uint16_t v) { Bytes(&v, 2); }
  void U32(uint32_t v) { Bytes(&v, 4); }
  void I32(int32_t v) { Bytes(&v, 4); }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v));
    U32(static_cast<uint32_t>(v >> 32));
  }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<uint8_t>& Out() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

std::string ToPath(const Napi::Value& value) {
  std::string path;
  if (value.IsBuffer()) {
    const auto buf = value.As<Napi::Buffer<char>>();
    path.assign(buf.Data(), buf.Length());
  } else if (value.IsString()) {
    path = value.As<Napi::String>().Utf8Value();
  } else {
    throw Napi::TypeError::New(value.Env(), "path must be a Buffer or a string");
  }
  if (path.empty() || path.find('\0') != std::string::npos) throw Napi::TypeError::New(value.Env(), "path must be non-empty and contain no NUL byte");
  return path;
}

// Buffer.compare's order: bytes as unsigned, a prefix first.
bool NameLess(const std::string& a, const std::string& b) {
  const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  return c != 0 ? c < 0 : a.size() < b.size();
}

}  // namespace

Napi::Value ScanDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1) throw Napi::TypeError::New(env, "scanDir(path)");
  const std::string path = ToPath(info[0]);

  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, errno, "scandir", &path);
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    close(fd);
    throw ErrnoError(env, err, "scandir", &path);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* de = readdir(dir);
    if (de == nullptr) {
      if (errno != 0) {
        const int err = errno;
        closedir(dir);
        throw ErrnoError(env, err, "scandir", &path);
      }
      break;
    }
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    names.emplace_back(de->d_name);
  }
  std::sort(names.begin(), names.end(), NameLess);

  Packer p;
  p.Out().reserve(names.size() * (2 + 24 + 4 + kStatBytes));
  for (const std::string& name : names) {
    p.U16(static_cast<uint16_t>(name.size()));  // NAME_MAX is 255
    p.Bytes(name.data(), name.size());
    struct stat st;
    if (fstatat(dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      p.I32(errno);
      continue;
    }
    p.I32(0);
    p.U32(st.st_mode);
    p.U32(st.st_uid);
    p.U32(st.st_gid);
    p.U32(static_cast<uint32_t>(st.st_nlink));
    p.U64(static_cast<uint64_t>(st.st_size));
    p.U64(st.st_ino);
    p.U64(st.st_dev);
    p.U64(st.st_rdev);
    p.I64(st.st_mtim.tv_sec);
    p.U32(static_cast<uint32_t>(st.st_mtim.tv_nsec));
    p.I64(st.st_ctim.tv_sec);
    p.U32(static_cast<uint32_t>(st.st_ctim.tv_nsec));
  }
  closedir(dir);
  std::vector<uint8_t>& out = p.Out();
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

}  // namespace bulwark
