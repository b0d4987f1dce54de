// probe_capabilities(): assembles the report from the backend decision, uname, the CPU masks, a
// trial huge-page buffer pool, the socket trials (socket_probes.cpp) and the io_uring trials
// (io_uring/uring_capabilities.cpp).
#include "salvo/capabilities.hpp"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "datapath/buffer_pool.hpp"
#include "engine/backend.hpp"
#include "probes/capability_probes.hpp"
#include "probes/socket_probes.hpp"
#include "salvo/build_info.hpp"

namespace salvo {
namespace detail {

std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);
  return std::string(name != nullptr ? name : "errno " + std::to_string(err)) + " (" + std::strerror(err) + ")";
}

Feature feature_yes(std::string name, std::string detail) {
  return Feature{std::move(name), true, {}, std::move(detail)};
}

Feature feature_no(std::string name, std::string reason) {
  return Feature{std::move(name), false, std::move(reason), {}};
}

Feature feature_errno(std::string name, const std::string& call, int err) {
  return feature_no(std::move(name), call + ": " + errno_text(err));
}

}  // namespace detail

namespace {

Capabilities::Backend probe_backend() {
  Capabilities::Backend b;
  if (const char* env = std::getenv("SALVO_BACKEND"); env != nullptr && *env != '\0') {
    b.env_set = true;
    b.env = env;
  }
  auto choice = detail::choose_backend(BackendKind::automatic);
  if (choice) {
    b.ok = true;
    b.kind = choice->kind;
    b.reason = choice->reason;
  } else {
    b.reason = choice.error().message;
  }
  return b;
}

// The first line of a file, or empty (errno says why).
std::string read_line(const char* path, int& err) {
  std::ifstream in(path);
  std::string line;
  if (!in) {
    err = errno != 0 ? errno : ENOENT;
    return {};
  }
  std::getline(in, line);
  err = 0;
  return line;
}

// Counts the CPUs of a kernel CPU list ("0-3,6"); 0 when the text is not one.
unsigned count_cpu_list(const std::string& text) {
  unsigned count = 0;
  const char* p = text.c_str();
  while (*p != '\0') {
    char* end = nullptr;
    const unsigned long first = std::strtoul(p, &end, 10);
    if (end == p) return 0;
    unsigned long last = first;
    p = end;
    if (*p == '-') {
      last = std::strtoul(p + 1, &end, 10);
      if (end == p + 1 || last < first) return 0;
      p = end;
    }
    count += static_cast<unsigned>(last - first + 1);
    if (*p == ',') ++p;
    else if (*p != '\0' && *p != '\n') return 0;
    else break;
  }
  return count;
}

// "0-1,4": the CPUs of a mask in the kernel's list notation.
std::string format_cpu_set(const cpu_set_t& set) {
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(cpu);
    if (last != cpu) out += '-' + std::to_string(last);
    cpu = last;
  }
  return out;
}

Capabilities::Cpus probe_cpus() {
  Capabilities::Cpus cpus;
  int err = 0;
  cpus.online_list = read_line("/sys/devices/system/cpu/online", err);
  cpus.online = count_cpu_list(cpus.online_list);
  if (cpus.online == 0) {  // no sysfs (some containers): the C library's count, without a list
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    cpus.online = n > 0 ? static_cast<unsigned>(n) : 0;
    cpus.online_list.clear();
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    cpus.allowed = static_cast<unsigned>(CPU_COUNT(&set));
    cpus.allowed_list = format_cpu_set(set);
  }
  return cpus;
}

// "always [madvise] never" -> "madvise"
std::string bracketed(const std::string& line) {
  const auto open = line.find('[');
  const auto close = line.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return line.substr(open + 1, close - open - 1);
}

void probe_thp(Capabilities& caps) {
  int err = 0;
  const std::string enabled = read_line("/sys/kernel/mm/transparent_hugepage/enabled", err);
  caps.thp_mode = bracketed(enabled);
  // The trial: a pool the size of a default worker's (1024 x 2048 bytes), mapped, advised and
  // touched exactly as a worker's is; huge_pages() reads what the kernel really gave it.
  detail::BufferPool pool;
  if (auto r = pool.init(1024, 2048); !r) {
    caps.thp = detail::feature_no("thp", "trial buffer pool: " + r.error().message);
    return;
  }
  if (pool.huge_pages()) {
    caps.thp = detail::feature_yes("thp", "a 2 MiB buffer pool got huge pages (enabled: " + caps.thp_mode + ")");
    return;
  }
  if (caps.thp_mode.empty()) {
    caps.thp = detail::feature_no(
        "thp", "a 2 MiB buffer pool got small pages; /sys/kernel/mm/transparent_hugepage/enabled: " +
                   (err != 0 ? detail::errno_text(err) : "unreadable: '" + enabled + "'"));
    return;
  }
  const std::string defrag = bracketed(read_line("/sys/kernel/mm/transparent_hugepage/defrag", err));
  caps.thp = detail::feature_no(
      "thp", caps.thp_mode == "never"
                 ? std::string("transparent huge pages are off (enabled: never)")
                 : "a 2 MiB buffer pool advised with MADV_HUGEPAGE got small pages (enabled: " + caps.thp_mode +
                       ", defrag: " + defrag + "; memory may be too fragmented)");
}

}  // namespace

const Feature* Capabilities::find(std::string_view name) const noexcept {
  for (const Feature* single : {&io_uring.usable, &io_uring.multishot_recvmsg, &io_uring.provided_buffer_ring, &thp}) {
    if (single->name == name) return single;
  }
  for (const std::vector<Feature>* list :
       {&socket, &io_uring.setup_flags, &io_uring.kernel_features, &io_uring.opcodes}) {
    for (const Feature& f : *list) {
      if (f.name == name) return &f;
    }
  }
  return nullptr;
}

Capabilities probe_capabilities() {
  Capabilities caps;
  caps.backend = probe_backend();
  utsname names{};
  caps.kernel_release = ::uname(&names) == 0 ? names.release : "unknown (uname: " + detail::errno_text(errno) + ")";
  const BuildInfo build = build_info();
  caps.liburing_version = build.liburing_version;
#if SALVO_HAVE_IO_URING
  caps.io_uring.built = true;
  detail::probe_io_uring_capabilities(caps.io_uring);
#else
  const std::string not_built = "this build has no io_uring backend (built with SALVO_IO_URING=OFF, or liburing was missing)";
  caps.io_uring.usable = detail::feature_no("io_uring", not_built);
  caps.io_uring.multishot_recvmsg = detail::feature_no("multishot_recvmsg", not_built);
  caps.io_uring.provided_buffer_ring = detail::feature_no("provided_buffer_ring", not_built);
#endif
  caps.socket = detail::probe_socket_features();
  caps.cpus = probe_cpus();
  probe_thp(caps);
  return caps;
}

}  // namespace salvo
