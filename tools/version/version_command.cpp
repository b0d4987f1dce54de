#include "version/version_command.hpp"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "salvo/build_info.hpp"
#include "salvo_git_describe.hpp"  // generated at build time by cmake/git_describe.cmake

namespace salvo::cli {
namespace {

std::string backends_text(const BuildInfo& info, const char* separator) {
  std::string out;
  for (BackendKind kind : info.backends) {
    if (!out.empty()) out += separator;
    out += to_string(kind);
  }
  return out;
}

nlohmann::ordered_json version_json() {
  const BuildInfo info = build_info();
  const std::string git = SALVO_GIT_DESCRIBE;
  nlohmann::ordered_json j;
  j["name"] = "salvo";
  j["version"] = info.version;
  j["git_describe"] = git.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(git);
  j["compiler"] = info.compiler;
  j["liburing_version"] = info.liburing_version;
  j["backends"] = nlohmann::ordered_json::array();
  for (BackendKind kind : info.backends) j["backends"].push_back(std::string(to_string(kind)));
  return j;
}

}  // namespace

std::string version_text() {
  const BuildInfo info = build_info();
  const std::string git = SALVO_GIT_DESCRIBE;
  std::string out = "salvo " + info.version + "\n";
  if (!git.empty()) out += "git: " + git + "\n";
  out += "compiler: " + info.compiler + "\n";
  out += "liburing: " + info.liburing_version + "\n";
  out += "backends: " + backends_text(info, " ");
  return out;
}

void add_version_flag(CLI::App& app) {
  app.set_version_flag("--version", [] { return version_text(); },
                       "print salvo's version, compiler, liburing version and backends, and exit");
}

Command add_version_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("version", "salvo's version, compiler, liburing version and backends (as --version)");
  sub->add_flag("--json", *json, "print one JSON object instead of text");
  return [json] {
    if (*json) std::printf("%s\n", version_json().dump().c_str());
    else std::printf("%s\n", version_text().c_str());
    std::fflush(stdout);
    return 0;
  };
}

}  // namespace salvo::cli
