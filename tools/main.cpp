// salvo: UDP servers and load generation on the salvo engine.
#include <CLI/CLI.hpp>
#include <string>

#include "common/app.hpp"
#include "common/descriptor_limit.hpp"

namespace {

// The subcommands in the order the app registers them: "sink, echo, blast, ...".
std::string subcommand_names(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything opens a descriptor: blast --flows, --workers and impair's clients each need
  // one per socket.
  salvo::cli::raise_descriptor_limit();
  CLI::App app{"", "salvo"};
  const auto commands = salvo::cli::add_all_commands(app);
  const std::string names = subcommand_names(app);
  app.description("salvo: UDP at packet rates: servers, a load generator, latency and impairment tools (" + names + ")");
  try {
    salvo::cli::parse_command_line(app, argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line that names the problem, exit code 2, as for every other usage error.
    std::string message = e.what();
    for (char& c : message) {
      if (c == '\n') c = ' ';
    }
    return salvo::cli::usage_error(message);
  }
  for (const CLI::App* sub : app.get_subcommands()) return commands.at(sub->get_name())();
  return salvo::cli::usage_error("no subcommand given (" + names + ")");
}
