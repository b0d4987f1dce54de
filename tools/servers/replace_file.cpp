#include "servers/replace_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace salvo::cli {
namespace {

// Taken temporary names in a row before a write gives up. 12 random characters are ~71 bits, so a
// taken name means someone is planting files, and that must cost one write, not the server.
constexpr int name_attempts = 100;

// Closes on scope exit; close() closes early and says whether it worked (on NFS a write error may
// show only there).
class Descriptor {
 public:
  explicit Descriptor(int fd) noexcept : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const noexcept { return fd_; }
  bool close() noexcept {
    const int r = ::close(fd_);
    fd_ = -1;
    return r == 0;
  }

 private:
  int fd_;
};

struct SplitPath {
  std::string directory;
  std::string name;
};

SplitPath split(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// How errors name the temporary file: the same every time, whatever the random part.
std::string temporary_pattern(const std::string& path) { return path + ".tmp.*"; }

std::string failed(const std::string& what, const std::string& object, int err) {
  return what + " " + object + ": " + std::strerror(err);
}

// `name` looked at in `directory_fd` without following a symlink; empty unless it exists and is
// neither a regular file nor a symlink.
std::string unreplaceable_at(int directory_fd, const std::string& name) {
  struct stat st {};
  if (::fstatat(directory_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
  if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return {};
  if (S_ISDIR(st.st_mode)) return "is a directory";
  if (S_ISFIFO(st.st_mode)) return "is a FIFO (named pipe), not a regular file";
  if (S_ISCHR(st.st_mode)) return "is a character device, not a regular file";
  if (S_ISBLK(st.st_mode)) return "is a block device, not a regular file";
  if (S_ISSOCK(st.st_mode)) return "is a socket, not a regular file";
  return "is not a regular file";
}

// The directory, opened to create, rename and fsync relative to it: one write cannot be split
// across two directories if a path component is swapped meanwhile. A directory we may write to
// but not list (mode -wx) still works through O_PATH, only without the directory fsync.
struct Directory {
  int fd = -1;
  bool can_sync = false;
};

Directory open_directory(const std::string& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) return {fd, true};
  if (errno != EACCES) return {};
  fd = ::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  return {fd, false};
}

// 12 characters of [0-9A-Za-z] from the kernel's random source (not a seeded generator, whose
// names another user could learn to predict by watching the directory).
bool random_suffix(std::string& out) {
  static constexpr char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  unsigned char bytes[12];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    got += static_cast<std::size_t>(n);
  }
  out.clear();
  for (const unsigned char b : bytes) out += alphabet[b % (sizeof alphabet - 1)];
  return true;
}

struct Temporary {
  int fd = -1;
  std::string name;  // in the directory
  int error = 0;     // when fd < 0
};

// Creates <name>.tmp.<random> in the directory. O_CREAT | O_EXCL fails on anything already at the
// name, a symlink included, dangling or not; O_NOFOLLOW says so once more for the reader. So a
// planted FIFO is never opened (no open() that waits for a reader forever) and a planted symlink
// is never written through. 0644 (less the umask) as any new file: node_exporter usually runs as
// another user and must read it.
Temporary create_temporary(int directory_fd, const std::string& name) {
  Temporary t;
  std::string suffix;
  for (int attempt = 0; attempt < name_attempts; ++attempt) {
    if (!random_suffix(suffix)) {
      t.error = errno;
      return t;
    }
    t.name = name + ".tmp." + suffix;
    t.fd = ::openat(directory_fd, t.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (t.fd >= 0) return t;
    if (errno != EEXIST && errno != EINTR) {
      t.error = errno;
      return t;
    }
  }
  t.error = EEXIST;
  return t;
}

// 0, or the errno of the write that failed (ENOSPC on a full disk).
int write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;  // cannot happen on a regular file; never loop on it
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

}  // namespace

std::string unreplaceable_reason(const std::string& path) { return unreplaceable_at(AT_FDCWD, path); }

std::string try_create_beside(const std::string& path) {
  const auto [directory, name] = split(path);
  const Directory opened = open_directory(directory);
  if (opened.fd < 0) return failed("cannot create files in", directory, errno);
  Descriptor dir(opened.fd);
  const Temporary t = create_temporary(dir.get(), name);
  if (t.fd < 0) return failed("cannot create files in", directory, t.error);
  ::close(t.fd);
  ::unlinkat(dir.get(), t.name.c_str(), 0);
  return {};
}

std::string replace_file(const std::string& path, std::string_view text, bool sync_directory) {
  const auto [directory, name] = split(path);
  const std::string temporary = temporary_pattern(path);
  const Directory opened = open_directory(directory);
  if (opened.fd < 0) return failed("create", temporary, errno);
  Descriptor dir(opened.fd);
  const Temporary t = create_temporary(dir.get(), name);
  if (t.fd < 0) return failed("create", temporary, t.error);
  Descriptor file(t.fd);

  std::string error;
  if (const int err = write_all(file.get(), text); err != 0) {
    error = failed("write", temporary, err);
  } else if (::fsync(file.get()) != 0) {
    // Before the rename: otherwise a crash soon after could leave FILE naming a file whose data
    // never reached the disk (empty), instead of the old contents or the new.
    error = failed("fsync", temporary, errno);
  } else if (!file.close()) {
    error = failed("close", temporary, errno);
  } else if (std::string why = unreplaceable_at(dir.get(), name); !why.empty()) {
    // It became one since the start-up check. rename() would not block on it, but it would
    // remove someone's FIFO or device node; leave it and say so.
    error = why + "; not replaced";
  } else if (::renameat(dir.get(), t.name.c_str(), dir.get(), name.c_str()) != 0) {
    error = "rename " + temporary + " to " + path + ": " + std::strerror(errno);
  }
  if (!error.empty()) {
    ::unlinkat(dir.get(), t.name.c_str(), 0);
    return error;
  }
  // EINVAL: this file system cannot sync a directory; the rename is then as durable as it gets.
  if (sync_directory && opened.can_sync && ::fsync(dir.get()) != 0 && errno != EINVAL) {
    return failed("fsync directory", directory, errno);
  }
  return {};
}

}  // namespace salvo::cli
