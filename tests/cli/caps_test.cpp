// `salvo caps`: exits 0, prints the capability report as text or as one JSON object, and says what
// salvo::probe_capabilities() says in this process (same machine, same environment). Under the
// seccomp wrapper that forbids io_uring (support/without_io_uring.cpp) it reports epoll with the
// EPERM reason and every io_uring trial failing with EPERM, while the socket trials are unchanged.
#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "cli/cli_test_support.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

nlohmann::json caps_json(std::vector<std::string> prefix = {}) {
  prefix.push_back(SALVO_CLI_PATH);
  prefix.push_back("caps");
  prefix.push_back("--json");
  const auto r = run_process(prefix, 30s);
  if (!r.exited || r.exit_code != 0) throw std::runtime_error("salvo caps --json failed: " + show(r));
  const auto lines = lines_of(r.out);
  if (lines.size() != 1) throw std::runtime_error("expected one line of JSON: " + r.out);
  return nlohmann::json::parse(lines[0]);
}

// The features of the API's report with the JSON object that holds them.
std::vector<std::pair<const Feature*, nlohmann::json>> paired(const Capabilities& c, const nlohmann::json& j) {
  std::vector<std::pair<const Feature*, nlohmann::json>> out;
  const auto& u = j.at("io_uring");
  out.emplace_back(&c.io_uring.usable, u.at("usable"));
  out.emplace_back(&c.io_uring.multishot_recvmsg, u.at("multishot_recvmsg"));
  out.emplace_back(&c.io_uring.provided_buffer_ring, u.at("provided_buffer_ring"));
  for (const Feature& f : c.io_uring.setup_flags) out.emplace_back(&f, u.at("setup_flags").at(f.name));
  for (const Feature& f : c.io_uring.kernel_features) out.emplace_back(&f, u.at("kernel_features").at(f.name));
  for (const Feature& f : c.io_uring.opcodes) out.emplace_back(&f, u.at("opcodes").at(f.name));
  for (const Feature& f : c.socket) out.emplace_back(&f, j.at("socket").at(f.name));
  return out;
}

void expect_feature_shape(const nlohmann::json& f, const std::string& name) {
  ASSERT_TRUE(f.at("available").is_boolean()) << name;
  if (f["available"].get<bool>()) {
    EXPECT_FALSE(f.contains("reason")) << name;
  } else {
    ASSERT_TRUE(f.contains("reason")) << name;
    EXPECT_FALSE(f["reason"].get<std::string>().empty()) << name;
  }
}

TEST(CapsCommand, JsonSaysWhatTheApiSays) {
  EnvGuard unset("SALVO_BACKEND", nullptr);
  const nlohmann::json j = caps_json();
  const Capabilities c = probe_capabilities();

  utsname names{};
  ASSERT_EQ(::uname(&names), 0);
  EXPECT_EQ(j.at("kernel_release"), names.release);
  EXPECT_EQ(j.at("liburing_version"), c.liburing_version);
  ASSERT_TRUE(c.backend.ok);
  EXPECT_EQ(j.at("backend").at("kind"), std::string(to_string(c.backend.kind)));
  EXPECT_EQ(j["backend"].at("ok"), true);
  EXPECT_EQ(j["backend"].at("reason"), c.backend.reason);
  EXPECT_TRUE(j["backend"].at("SALVO_BACKEND").is_null());
  // `auto` in the child runs what Engine::create picks here.
  EXPECT_EQ(j["backend"]["kind"], std::string(to_string(make_engine({})->backend().kind)));
  EXPECT_EQ(j.at("io_uring").at("built"), c.io_uring.built);
  EXPECT_EQ(j.at("cpus").at("online").get<unsigned>(), c.cpus.online);
  EXPECT_EQ(j["cpus"].at("allowed").get<unsigned>(), c.cpus.allowed);
  EXPECT_EQ(j["cpus"].at("allowed_list"), c.cpus.allowed_list);
  EXPECT_EQ(j["cpus"].at("online_list"), c.cpus.online_list);
  if (c.thp_mode.empty()) {
    EXPECT_TRUE(j.at("thp").at("mode").is_null());
  } else {
    EXPECT_EQ(j.at("thp").at("mode"), c.thp_mode);
  }
  expect_feature_shape(j["thp"], "thp");

  const auto pairs = paired(c, j);
  EXPECT_EQ(j["socket"].size(), c.socket.size());
  EXPECT_EQ(j["io_uring"]["opcodes"].size(), c.io_uring.opcodes.size());
  EXPECT_EQ(j["io_uring"]["setup_flags"].size(), c.io_uring.setup_flags.size());
  for (const auto& [feature, entry] : pairs) {
    expect_feature_shape(entry, feature->name);
    EXPECT_EQ(entry["available"].get<bool>(), feature->available)
        << feature->name << ": child " << entry.dump() << ", here " << feature->reason;
  }
}

TEST(CapsCommand, TextNamesEveryFeature) {
  const auto r = run_process({SALVO_CLI_PATH, "caps"}, 30s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 0) << show(r);
  EXPECT_TRUE(r.err.empty()) << r.err;
  const Capabilities c = probe_capabilities();
  EXPECT_NE(r.out.find("kernel:          " + c.kernel_release + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("backend (auto):"), std::string::npos) << r.out;
  for (const std::vector<Feature>* list : {&c.socket, &c.io_uring.setup_flags, &c.io_uring.opcodes}) {
    for (const Feature& f : *list) {
      EXPECT_NE(r.out.find("    " + f.name + " "), std::string::npos) << f.name << " missing from:\n" << r.out;
    }
  }
}

TEST(CapsCommand, ReportsAndObeysSalvoBackend) {
  EnvGuard forced("SALVO_BACKEND", "epoll");
  const nlohmann::json j = caps_json();
  EXPECT_EQ(j.at("backend").at("kind"), "epoll");
  EXPECT_EQ(j["backend"].at("SALVO_BACKEND"), "epoll");
  EXPECT_NE(j["backend"].at("reason").get<std::string>().find("forced by SALVO_BACKEND=epoll"), std::string::npos)
      << j["backend"].dump();
}

TEST(CapsCommand, UnknownFlagIsAOneLineUsageError) {
  const auto r = run_process({SALVO_CLI_PATH, "caps", "--bogus"}, 30s);
  ASSERT_TRUE(r.exited) << show(r);
  EXPECT_EQ(r.exit_code, 2) << show(r);
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

#if defined(__x86_64__)
constexpr bool kFilterArch = true;
#else
constexpr bool kFilterArch = false;
#endif

TEST(CapsCommand, WithIoUringForbiddenReportsEpollAndEperm) {
  if (!backend_available(BackendKind::io_uring)) GTEST_SKIP() << "io_uring does not run here anyway";
  if (!kFilterArch) GTEST_SKIP() << "the seccomp filter is written for x86-64";
  EnvGuard unset("SALVO_BACKEND", nullptr);
  const nlohmann::json j = caps_json({SALVO_WITHOUT_IO_URING_PATH});
  EXPECT_EQ(j.at("backend").at("kind"), "epoll");
  const std::string reason = j["backend"].at("reason");
  EXPECT_NE(reason.find("auto"), std::string::npos) << reason;
  EXPECT_NE(reason.find("EPERM"), std::string::npos) << reason;

  const auto& u = j.at("io_uring");
  EXPECT_EQ(u.at("built"), true);
  for (const char* single : {"usable", "multishot_recvmsg", "provided_buffer_ring"}) {
    EXPECT_EQ(u.at(single).at("available"), false) << single;
    EXPECT_NE(u[single].at("reason").get<std::string>().find("EPERM"), std::string::npos) << u[single].dump();
  }
  for (const char* group : {"setup_flags", "kernel_features", "opcodes"}) {
    ASSERT_FALSE(u.at(group).empty()) << group;
    for (const auto& [name, f] : u[group].items()) {
      EXPECT_EQ(f.at("available"), false) << group << "." << name;
      EXPECT_NE(f.at("reason").get<std::string>().find("EPERM"), std::string::npos) << group << "." << name << f.dump();
    }
  }
  // Only io_uring is filtered: the socket trials find what they find here.
  const Capabilities here = probe_capabilities();
  for (const Feature& f : here.socket) {
    EXPECT_EQ(j.at("socket").at(f.name).at("available").get<bool>(), f.available) << f.name;
  }
}

}  // namespace
}  // namespace salvo::test
