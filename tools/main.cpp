// salvo: UDP servers and load generation on the salvo engine.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"salvo: UDP at packet rates (sink, echo, blast)", "salvo"};
  app.require_subcommand(1);
  std::map<std::string, salvo::cli::Command> commands;
  commands["sink"] = salvo::cli::add_sink_command(app);
  commands["echo"] = salvo::cli::add_echo_command(app);
  commands["blast"] = salvo::cli::add_blast_command(app);
  commands["impair"] = salvo::cli::add_impair_command(app);
  commands["ping"] = salvo::cli::add_ping_command(app);
  commands["merge"] = salvo::cli::add_merge_command(app);
  commands["caps"] = salvo::cli::add_caps_command(app);
  try {
    app.parse(argc, argv);
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
