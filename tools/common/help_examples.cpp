#include "common/help_examples.hpp"

namespace salvo::cli {

const std::map<std::string, std::string>& help_examples() {
  static const std::map<std::string, std::string> examples{
      {"sink", "salvo sink --bind 0.0.0.0:9000 --metrics sink.prom"},
      {"echo", "salvo echo --bind 127.0.0.1:9001"},
      {"blast", "salvo blast --to 127.0.0.1:9000 --rate 100000 --duration 10 --flows 4"},
      {"impair", "salvo impair --listen 127.0.0.1:9100 --to 127.0.0.1:9001 --loss 0.01 --delay 20"},
      {"ping", "salvo ping --to 127.0.0.1:9001 --rate 1000 --duration 10 --hgrm ping.hgrm"},
      {"merge", "salvo merge a.json b.json --hgrm all.hgrm"},
      {"caps", "salvo caps --json"},
      {"version", "salvo version --json"},
  };
  return examples;
}

void add_help_examples(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands({})) {
    const auto it = help_examples().find(sub->get_name());
    if (it == help_examples().end()) continue;
    std::string footer = "Example:";
    std::string::size_type start = 0;
    const std::string& lines = it->second;
    while (start <= lines.size()) {
      const auto end = lines.find('\n', start);
      footer += "\n  " + lines.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    sub->footer(footer);
  }
}

}  // namespace salvo::cli
