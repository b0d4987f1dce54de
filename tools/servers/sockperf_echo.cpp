#include "servers/sockperf_echo.hpp"

#include <cstring>

#include "servers/echo_rules.hpp"
#include "servers/sockperf_header.hpp"

namespace salvo::cli {

SockperfStats& SockperfStats::operator+=(const SockperfStats& o) noexcept {
  messages += o.messages;
  replies += o.replies;
  no_reply += o.no_reply;
  warmup += o.warmup;
  not_client += o.not_client;
  invalid += o.invalid;
  low_port += o.low_port;
  reply_failed += o.reply_failed;
  return *this;
}

nlohmann::json sockperf_stats_json(const SockperfStats& s) {
  return {{"messages", s.messages}, {"replies", s.replies},       {"no_reply", s.no_reply},
          {"warmup", s.warmup},     {"not_client", s.not_client}, {"invalid", s.invalid},
          {"low_port", s.low_port},         {"reply_failed", s.reply_failed}};
}

SockperfEchoProtocol::SockperfEchoProtocol(SockperfStats& stats, std::size_t max_datagram, bool answer_low_ports)
    : stats_(stats), reply_(max_datagram), answer_low_ports_(answer_low_ports) {}

void SockperfEchoProtocol::on_datagrams(std::span<const Datagram> batch, Transport& transport) {
  for (const Datagram& d : batch) {
    if (!answer_low_ports_ && d.peer.port() < EchoRules::lowest_client_port) {
      ++stats_.low_port;
      continue;
    }
    const auto header = d.truncated || d.payload.size() > reply_.size() ? std::nullopt : parse_sockperf_header(d.payload);
    if (!header) {
      ++stats_.invalid;
    } else if (!header->is_client()) {
      ++stats_.not_client;
    } else if (header->is_warmup()) {
      ++stats_.warmup;
    } else {
      ++stats_.messages;
      if (!header->wants_pong()) {
        ++stats_.no_reply;
        continue;
      }
      const std::span<std::byte> reply(reply_.data(), d.payload.size());
      std::memcpy(reply.data(), d.payload.data(), d.payload.size());
      make_sockperf_reply(reply);
      if (transport.send(reply, d.peer) == SendResult::queued) {
        ++stats_.replies;
      } else {
        ++stats_.reply_failed;
      }
    }
  }
}

}  // namespace salvo::cli
