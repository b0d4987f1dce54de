// salvo sink and salvo echo: the two servers. sink counts and discards; echo sends every datagram
// back to its sender, batched (one flush per received batch).
#include <cstdio>
#include <memory>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "report.hpp"
#include "salvo/salvo.hpp"
#include "session.hpp"

namespace salvo::cli {
namespace {

class SinkProtocol final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram>, Transport&) override {}  // the counters say it all
};

class EchoProtocol final : public Protocol {
 public:
  void on_datagrams(std::span<const Datagram> batch, Transport& transport) override {
    for (const Datagram& d : batch) transport.send(d.payload, d.peer);  // refusals are counted
  }
};

struct ServerFlags {
  CommonFlags common;
  std::string bind;
};

int run_server(const char* name, const ServerFlags& flags, const ProtocolFactory& factory) {
  auto options = to_engine_options(flags.common);
  if (!options) return usage_error(options.error().message);
  auto bind = Address::parse(flags.bind);
  if (!bind) return usage_error(bind.error().message);

  block_stop_signals();
  auto engine = Engine::create(*options);
  if (!engine) return usage_error(engine.error().message);
  auto bound = (*engine)->listen(*bind, factory);
  if (!bound) return usage_error(bound.error().message);
  if (auto started = (*engine)->start(); !started) {
    std::fprintf(stderr, "salvo: %s\n", started.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "salvo %s: listening on %s (%s)\n", name, bound->to_string().c_str(),
               (*engine)->backend().reason.c_str());
  const SessionResult session = run_session(**engine, flags.common);
  print_summary(name, **engine, session);
  if (flags.common.json) {
    nlohmann::json j = session_json(name, **engine, session);
    j["bind"] = bound->to_string();
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}

Command add_server(CLI::App& app, const char* name, const char* description, ProtocolFactory factory) {
  auto flags = std::make_shared<ServerFlags>();
  CLI::App* sub = app.add_subcommand(name, description);
  sub->add_option("--bind", flags->bind, "address to listen on, e.g. 127.0.0.1:9000 or [::1]:9000")
      ->required()
      ->check(check_address);
  add_common_flags(*sub, flags->common, /*server=*/true);
  return [name, flags, factory = std::move(factory)] { return run_server(name, *flags, factory); };
}

}  // namespace

Command add_sink_command(CLI::App& app) {
  return add_server(app, "sink", "count and discard datagrams",
                    [](unsigned) { return std::make_unique<SinkProtocol>(); });
}

Command add_echo_command(CLI::App& app) {
  return add_server(app, "echo", "send every datagram back to its sender",
                    [](unsigned) { return std::make_unique<EchoProtocol>(); });
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "salvo: %s\n", message.c_str());
  return 2;
}

}  // namespace salvo::cli
