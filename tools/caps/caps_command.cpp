// salvo caps: the capability report (salvo/capabilities.hpp), readable or as one JSON object.
// Everything in it was tried on this machine by probe_capabilities(); this file only prints it.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/commands.hpp"
#include "salvo/capabilities.hpp"

namespace salvo::cli {
namespace {

using ordered_json = nlohmann::ordered_json;

ordered_json feature_json(const Feature& f) {
  ordered_json j;
  j["available"] = f.available;
  if (!f.available) j["reason"] = f.reason;
  else if (!f.detail.empty()) j["detail"] = f.detail;
  return j;
}

ordered_json features_json(const std::vector<Feature>& list) {
  ordered_json j = ordered_json::object();
  for (const Feature& f : list) j[f.name] = feature_json(f);
  return j;
}

ordered_json caps_json(const Capabilities& c) {
  ordered_json j;
  j["backend"] = {{"kind", c.backend.ok ? ordered_json(std::string(to_string(c.backend.kind))) : ordered_json(nullptr)},
                  {"ok", c.backend.ok},
                  {"reason", c.backend.reason},
                  {"SALVO_BACKEND", c.backend.env_set ? ordered_json(c.backend.env) : ordered_json(nullptr)}};
  j["kernel_release"] = c.kernel_release;
  j["liburing_version"] = c.liburing_version;
  ordered_json uring;
  uring["built"] = c.io_uring.built;
  uring["usable"] = feature_json(c.io_uring.usable);
  uring["multishot_recvmsg"] = feature_json(c.io_uring.multishot_recvmsg);
  uring["provided_buffer_ring"] = feature_json(c.io_uring.provided_buffer_ring);
  uring["setup_flags"] = features_json(c.io_uring.setup_flags);
  uring["kernel_features"] = features_json(c.io_uring.kernel_features);
  uring["opcodes"] = features_json(c.io_uring.opcodes);
  j["io_uring"] = std::move(uring);
  j["socket"] = features_json(c.socket);
  j["cpus"] = {{"online", c.cpus.online},
               {"online_list", c.cpus.online_list},
               {"allowed", c.cpus.allowed},
               {"allowed_list", c.cpus.allowed_list}};
  ordered_json thp = feature_json(c.thp);
  thp["mode"] = c.thp_mode.empty() ? ordered_json(nullptr) : ordered_json(c.thp_mode);
  j["thp"] = std::move(thp);
  return j;
}

void print_feature(const Feature& f, int width) {
  const std::string& note = f.available ? f.detail : f.reason;
  std::printf("    %-*s %-3s%s%s\n", width, f.name.c_str(), f.available ? "yes" : "no", note.empty() ? "" : "  ",
              note.c_str());
}

void print_features(const char* title, const std::vector<Feature>& list) {
  int width = 0;
  for (const Feature& f : list) width = std::max(width, static_cast<int>(f.name.size()));
  std::printf("  %s\n", title);
  for (const Feature& f : list) print_feature(f, width);
}

void print_caps(const Capabilities& c) {
  std::printf("backend (auto):  %s\n", c.backend.ok ? std::string(to_string(c.backend.kind)).c_str() : "none: Engine::create fails");
  std::printf("  reason:        %s\n", c.backend.reason.c_str());
  std::printf("  SALVO_BACKEND: %s\n", c.backend.env_set ? c.backend.env.c_str() : "(not set)");
  std::printf("kernel:          %s\n", c.kernel_release.c_str());
  std::printf("liburing:        %s\n", c.liburing_version.c_str());
  std::printf("cpus:            %u online (%s), %u this process may use (%s)\n", c.cpus.online,
              c.cpus.online_list.c_str(), c.cpus.allowed, c.cpus.allowed_list.c_str());
  std::printf("huge pages:      %s (enabled: %s)%s%s\n", c.thp.available ? "yes" : "no",
              c.thp_mode.empty() ? "unknown" : c.thp_mode.c_str(), c.thp.available ? "" : ": ",
              c.thp.available ? "" : c.thp.reason.c_str());
  std::printf("\nio_uring%s\n", c.io_uring.built ? "" : " (not built)");
  print_features("backend probe", {c.io_uring.usable, c.io_uring.multishot_recvmsg, c.io_uring.provided_buffer_ring});
  print_features("setup flags", c.io_uring.setup_flags);
  print_features("opcodes", c.io_uring.opcodes);
  print_features("kernel features", c.io_uring.kernel_features);
  std::printf("\nUDP sockets (tried on loopback)\n");
  print_features("features", c.socket);
}

}  // namespace

Command add_caps_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("caps", "what this machine, kernel and build offer salvo (each feature tried here)");
  sub->add_flag("--json", *json, "print one JSON object instead of text");
  return [json] {
    const Capabilities caps = probe_capabilities();
    if (*json) std::printf("%s\n", caps_json(caps).dump().c_str());
    else print_caps(caps);
    std::fflush(stdout);
    return 0;
  };
}

}  // namespace salvo::cli
