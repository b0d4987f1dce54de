// `salvo --version` and `salvo version [--json]` (every field, exit 0, what salvo::build_info()
// says), the example that ends each subcommand's --help (there, and parsing), the man page salvo(1)
// against --help (every subcommand's help and every flag in it, so that they cannot drift; and
// `man -l` renders it), and bash completion against --help (every subcommand, every flag).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "common/app.hpp"
#include "cli/cli_test_support.hpp"
#include "common/help_examples.hpp"
#include "salvo/build_info.hpp"
#include "support/process.hpp"
#include "support/test_support.hpp"

namespace salvo::test {
namespace {

const std::string salvo_bin = SALVO_CLI_PATH;

std::string ok_output(std::vector<std::string> args) {
  const auto r = run_salvo(args);
  if (!r.exited || r.exit_code != 0) throw std::runtime_error("salvo failed: " + show(r));
  return r.out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// The subcommands `salvo --help` lists.
std::vector<std::string> subcommands() {
  std::vector<std::string> out;
  bool in_list = false;
  static const std::regex entry("^  ([a-z][-a-z0-9]*) .*");
  for (const std::string& line : lines_of(ok_output({"--help"}))) {
    if (line == "Subcommands:") in_list = true;
    std::smatch m;
    if (in_list && std::regex_match(line, m, entry)) out.push_back(m[1]);
  }
  return out;
}

// The flags in a --help text: CLI11 starts an option line with two spaces and '-', and writes
// "-h,--help", "--gso{false},--no-gso{true}" and "--bind TEXT REQUIRED".
std::set<std::string> flags_in(const std::string& help) {
  std::set<std::string> out;
  static const std::regex option_line("^  (-[^ ]*).*");
  static const std::regex braces("\\{[^}]*\\}");
  for (const std::string& line : lines_of(help)) {
    std::smatch m;
    if (!std::regex_match(line, m, option_line)) continue;
    std::stringstream names(std::regex_replace(m[1].str(), braces, ""));
    for (std::string name; std::getline(names, name, ',');) {
      if (!name.empty()) out.insert(name);
    }
  }
  return out;
}

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

bool on_path(const std::string& program) {
  return run_process({"/bin/sh", "-c", "command -v " + program + " >/dev/null"}, 10s).exit_code == 0;
}

// --- salvo --version / salvo version ----------------------------------------------------------

TEST(Version, FlagPrintsVersionCompilerLiburingAndBackends) {
  const auto r = run_salvo({"--version"});
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  EXPECT_EQ(r.err, "");
  const BuildInfo info = build_info();
  const auto lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0], "salvo " + info.version);  // what help2man reads, and the package's version
  std::map<std::string, std::string> fields;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto colon = lines[i].find(": ");
    ASSERT_NE(colon, std::string::npos) << lines[i];
    fields[lines[i].substr(0, colon)] = lines[i].substr(colon + 2);
  }
  EXPECT_EQ(fields["compiler"], info.compiler);
  EXPECT_FALSE(info.compiler.empty());
  EXPECT_EQ(fields["liburing"], info.liburing_version);
  std::string backends;
  for (BackendKind kind : info.backends) backends += (backends.empty() ? "" : " ") + std::string(to_string(kind));
  EXPECT_EQ(fields["backends"], backends);
  EXPECT_NE(backends.find("epoll"), std::string::npos);
  // Built from a git checkout (CI's fresh clone is one): `git describe` is there too.
  if (std::filesystem::exists(std::filesystem::path(SALVO_SOURCE_DIR) / ".git") && on_path("git")) {
    EXPECT_FALSE(fields["git"].empty()) << r.out;
  }
}

TEST(Version, WinsOverTheRequiredSubcommandAnywhereBeforeIt) {
  const std::string text = ok_output({"--version"});
  EXPECT_EQ(ok_output({"version"}), text);
  EXPECT_EQ(ok_output({"--version", "sink"}), text);
}

TEST(Version, JsonHasEveryField) {
  const auto j = parse_json_line(ok_output({"version", "--json"}));
  const BuildInfo info = build_info();
  EXPECT_EQ(j.at("name"), "salvo");
  EXPECT_EQ(j.at("version"), info.version);
  EXPECT_TRUE(j.at("git_describe").is_string() || j.at("git_describe").is_null()) << j;
  EXPECT_EQ(j.at("compiler"), info.compiler);
  EXPECT_EQ(j.at("liburing_version"), info.liburing_version);
  std::vector<std::string> backends;
  for (BackendKind kind : info.backends) backends.emplace_back(to_string(kind));
  EXPECT_EQ(j.at("backends").get<std::vector<std::string>>(), backends);
  // The same liburing version as salvo caps reports.
  EXPECT_EQ(j.at("liburing_version"), parse_json_line(ok_output({"caps", "--json"})).at("liburing_version"));
}

TEST(Version, BadFlagIsAUsageError) {
  expect_usage_error(run_salvo({"version", "--jsn"}), {"--jsn"});
}

// --- examples in --help -------------------------------------------------------------------------

TEST(HelpExamples, EverySubcommandsHelpEndsWithAnExample) {
  const auto subs = subcommands();
  ASSERT_GE(subs.size(), 8u);
  for (const std::string& sub : subs) {
    auto lines = lines_of(ok_output({sub, "--help"}));
    while (!lines.empty() && rtrim(lines.back()).empty()) lines.pop_back();
    ASSERT_GE(lines.size(), 2u) << sub;
    EXPECT_TRUE(starts_with(lines.back(), "  salvo " + sub + " ")) << sub << ": " << lines.back();
    EXPECT_EQ(lines[lines.size() - 2], "Example:") << sub;
  }
}

TEST(HelpExamples, EveryExampleParses) {
  CLI::App app{"salvo", "salvo"};
  const auto commands = cli::add_all_commands(app);
  EXPECT_EQ(cli::help_examples().size(), commands.size());
  for (const auto& [name, example] : cli::help_examples()) {
    std::vector<std::string> words;
    std::istringstream in(example);
    for (std::string w; in >> w;) words.push_back(w);
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    ASSERT_NO_THROW(cli::parse_command_line(app, static_cast<int>(argv.size()), argv.data())) << example;
    ASSERT_EQ(app.get_subcommands().size(), 1u) << example;
    EXPECT_EQ(app.get_subcommands().front()->get_name(), name) << example;
  }
}

// --- the man page -------------------------------------------------------------------------------

// The page's text with roff's escapes for '-', '\' and leading '.' undone and fonts dropped.
std::string man_page_text() {
  std::ifstream in(SALVO_MAN_PAGE);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  text = std::regex_replace(text, std::regex(R"(\\f[BIRP])"), "");
  text = std::regex_replace(text, std::regex(R"(\\-)"), "-");
  text = std::regex_replace(text, std::regex(R"(\\&)"), "");
  text = std::regex_replace(text, std::regex(R"(\\e)"), "\\");
  return text;
}

#define SKIP_WITHOUT_MAN_PAGE()                                                                 \
  if (std::string(SALVO_MAN_PAGE).empty())                                                      \
  GTEST_SKIP() << "no man page in this build: help2man was not found at configure time "        \
                  "(apt-get install help2man)"

TEST(ManPage, HasEverySubcommandsHelpLineForLine) {
  SKIP_WITHOUT_MAN_PAGE();
  const std::string page = man_page_text();
  ASSERT_FALSE(page.empty()) << SALVO_MAN_PAGE;
  std::set<std::string> page_lines;
  for (const std::string& line : lines_of(page)) page_lines.insert(rtrim(line));
  for (const std::string& sub : subcommands()) {
    EXPECT_TRUE(page_lines.count(".SS \"salvo " + sub + "\"")) << "no section for salvo " << sub;
    for (const std::string& line : lines_of(ok_output({sub, "--help"}))) {
      EXPECT_TRUE(page_lines.count(rtrim(line))) << "salvo " << sub << " --help has a line the man page "
                                                 << "does not (rebuild, or tools/man/make-man.sh): '" << line << "'";
    }
  }
}

TEST(ManPage, HasEveryFlagOfEveryHelp) {
  SKIP_WITHOUT_MAN_PAGE();
  const std::string page = man_page_text();
  for (const std::string& flag : flags_in(ok_output({"--help"}))) {
    EXPECT_NE(page.find(flag), std::string::npos) << "salvo " << flag;
  }
  for (const std::string& sub : subcommands()) {
    const auto flags = flags_in(ok_output({sub, "--help"}));
    EXPECT_FALSE(flags.empty()) << sub;
    for (const std::string& flag : flags) {
      EXPECT_NE(page.find(flag), std::string::npos) << "salvo " << sub << " " << flag;
    }
  }
  EXPECT_NE(page.find("salvo " + build_info().version), std::string::npos) << "the version in the page's footer";
}

TEST(ManPage, RendersWithManL) {
  SKIP_WITHOUT_MAN_PAGE();
  if (!on_path("man")) GTEST_SKIP() << "man is not installed (apt-get install man-db)";
  Child man({"/bin/sh", "-c", "exec man -l \"$0\"", SALVO_MAN_PAGE}, {{"MANWIDTH", "100"}, {"MANPAGER", "cat"}, {"PAGER", "cat"}});
  const auto r = man.finish(30s);
  ASSERT_TRUE(r.exited) << show(r);
  ASSERT_EQ(r.exit_code, 0) << show(r);
  for (const char* expected : {"SYNOPSIS", "OPTIONS", "SUBCOMMANDS", "EXIT STATUS", "salvo sink", "--version",
                               "Example:"}) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << "\n" << r.out.substr(0, 2000);
  }
}

// --- bash completion ----------------------------------------------------------------------------

// What the completion function offers for the words (the last one is being completed).
std::set<std::string> complete(std::vector<std::string> words) {
  std::vector<std::string> argv{"/bin/bash", "-c",
                                "source \"$1\"; shift; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _salvo; "
                                "printf '%s\\n' \"${COMPREPLY[@]}\"",
                                "bash", SALVO_COMPLETION};
  argv.push_back(salvo_bin);
  argv.insert(argv.end(), words.begin(), words.end());
  const auto r = run_process(argv, 30s);
  if (!r.exited || r.exit_code != 0) throw std::runtime_error("bash completion failed: " + show(r));
  std::set<std::string> out;
  for (const std::string& line : lines_of(r.out)) {
    if (!line.empty()) out.insert(line);
  }
  return out;
}

TEST(BashCompletion, CompletesEverySubcommandAndEveryFlag) {
  if (!std::filesystem::exists("/bin/bash")) GTEST_SKIP() << "bash is not installed";
  const auto subs = subcommands();
  EXPECT_EQ(complete({""}), std::set<std::string>(subs.begin(), subs.end()));
  EXPECT_EQ(complete({"pi"}), std::set<std::string>{"ping"});
  EXPECT_EQ(complete({"-"}), flags_in(ok_output({"--help"})));
  for (const std::string& sub : subs) {
    EXPECT_EQ(complete({sub, "-"}), flags_in(ok_output({sub, "--help"}))) << sub;
  }
  // After a flag that takes a value, nothing of salvo's own: bash completes file names.
  EXPECT_EQ(complete({"sink", "--metrics", ""}), std::set<std::string>{});
  // After a flag that takes none, the flags again.
  EXPECT_TRUE(complete({"caps", "--json", "--"}).count("--help"));
}

}  // namespace
}  // namespace salvo::test
