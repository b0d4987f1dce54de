#include "common/app.hpp"

#include <stdexcept>

#include "common/help_examples.hpp"
#include "version/version_command.hpp"

namespace salvo::cli {

std::map<std::string, Command> add_all_commands(CLI::App& app) {
  app.require_subcommand(1);
  std::map<std::string, Command> commands;
  commands["sink"] = add_sink_command(app);
  commands["echo"] = add_echo_command(app);
  commands["blast"] = add_blast_command(app);
  commands["impair"] = add_impair_command(app);
  commands["ping"] = add_ping_command(app);
  commands["merge"] = add_merge_command(app);
  commands["caps"] = add_caps_command(app);
  commands["version"] = add_version_command(app);
  add_version_flag(app);
  add_help_examples(app);
  return commands;
}

void parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const std::out_of_range&) {
    throw CLI::ConversionError("a value on the command line is out of range for its flag");
  } catch (const std::invalid_argument&) {
    throw CLI::ConversionError("a value on the command line is not what its flag takes");
  }
}

}  // namespace salvo::cli
