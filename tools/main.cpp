// salvo: UDP servers and load generation on the salvo engine.
#include <CLI/CLI.hpp>
#include <string>

#include "common/app.hpp"

int main(int argc, char** argv) {
  CLI::App app{"salvo: UDP at packet rates (sink, echo, blast)", "salvo"};
  const auto commands = salvo::cli::add_all_commands(app);
  try {
    salvo::cli::parse_command_line(app, argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
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
  return salvo::cli::usage_error("no subcommand given (sink, echo or blast)");
}
