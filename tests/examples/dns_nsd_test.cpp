// examples/dns/dns_server beside NSD, the reference authoritative server: both serve the same zone
// files (served.zone, served_reverse.zone) and are asked the same questions, every name of the
// zone with every type the server knows, in mixed case, with and without EDNS. The answers must be
// the same record for record, in the same order, apart from the ID. Skipped when NSD is not
// installed (Debian package nsd).
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "examples/dns_server_process.hpp"
#include "examples/dns_test_client.hpp"
#include "examples/example_test_support.hpp"
#include "support/temp_dir.hpp"

namespace salvo::test {
namespace {

using namespace std::chrono_literals;

const char* const nsd_bin = "/usr/sbin/nsd";

// One zone for both servers: its name and its file in tests/examples/dns.
struct ZoneFile {
  std::string name, file;
};

class NsdProcess {
 public:
  NsdProcess(const TempDir& dir, const std::vector<ZoneFile>& zones)
      : address_(closed_port_address(addr("127.0.0.1:0"))) {
    std::ofstream conf(dir.file("nsd.conf"));
    conf << "server:\n  ip-address: 127.0.0.1@" << address_.port() << "\n  username: \"\"\n  chroot: \"\"\n"
         << "  zonesdir: \"" << dns_test_dir << "\"\n  database: \"\"\n  pidfile: \"" << dir.file("nsd.pid") << "\"\n"
         << "  xfrdfile: \"" << dir.file("xfrd.state") << "\"\n  zonelistfile: \"" << dir.file("zone.list") << "\"\n"
         << "  rrl-ratelimit: 0\n  server-count: 1\n  verbosity: 1\n  logfile: \"" << dir.file("nsd.log") << "\"\n"
         << "remote-control:\n  control-enable: no\n";
    for (const ZoneFile& z : zones) conf << "zone:\n  name: " << z.name << "\n  zonefile: " << z.file << "\n";
    conf.close();
    child_ = std::make_unique<Child>(std::vector<std::string>{nsd_bin, "-d", "-c", dir.file("nsd.conf")});
  }
  ~NsdProcess() {
    child_->send_signal(SIGTERM);
    child_->finish(20s);
  }
  const Address& address() const noexcept { return address_; }

 private:
  Address address_;
  std::unique_ptr<Child> child_;
};

class DnsServerBesideNsd : public testing::TestWithParam<BackendKind> {
 protected:
  // Serves `zones` from NSD and from dns_server and asks both every question, with and without
  // EDNS; the answers must be the same text. Returns how many questions were compared.
  int compare(const std::vector<ZoneFile>& zones, const std::vector<std::pair<std::string, std::string>>& questions) {
    TempDir dir;
    NsdProcess nsd(dir, zones);
    std::vector<std::string> args;
    for (const ZoneFile& z : zones) {
      args.push_back("--zone");
      args.push_back(z.name + "=" + dns_test_dir + "/" + z.file);
    }
    DnsServerProcess salvo_server(args, GetParam());
    UdpSocket client(addr("127.0.0.1:0"));
    // NSD loads its zones after it starts listening: wait until it answers the first zone's SOA.
    const bool nsd_ready = wait_until(
        [&] {
          auto r = ask(client, nsd.address(), dns_question(zones.front().name + ".", 6, 1), 200ms);
          return r && r->rcode == 0 && r->answer.size() == 1;
        },
        20s);
    EXPECT_TRUE(nsd_ready) << "NSD did not answer";
    if (!nsd_ready) return 0;
    std::uint16_t id = 1000;
    int compared = 0;
    for (const auto& [name, type] : questions) {
      for (const std::optional<std::uint16_t> edns : {std::optional<std::uint16_t>{}, std::optional<std::uint16_t>{4096}}) {
        DnsQuestion q = dns_question(name, type_code(type), ++id);
        q.edns_udp_size = edns;
        const auto theirs = ask(client, nsd.address(), q);
        const auto ours = ask(client, salvo_server.address(), q);
        EXPECT_TRUE(theirs.has_value() && ours.has_value()) << name << " " << type;
        if (!theirs || !ours) continue;
        EXPECT_EQ(to_text(*ours), to_text(*theirs)) << name << " " << type << (edns ? " with EDNS" : "");
        ++compared;
      }
    }
    return compared;
  }
};

TEST_P(DnsServerBesideNsd, AnswersEveryNameAndTypeOfTheServedZonesAsNsdDoes) {
  if (::access(nsd_bin, X_OK) != 0) GTEST_SKIP() << "NSD is not installed (apt-get install nsd)";
  const std::vector<std::string> names = {
      "example.com.",   "EXAMPLE.com.",      "www.example.com.",     "WwW.ExAmple.COM.",      "web.example.com.",
      "alias.example.com.", "outside.example.com.", "mail.example.com.", "ns1.example.com.", "sip.example.com.",
      "_sip._udp.example.com.", "_udp.example.com.", "sub.example.com.", "x.sub.example.com.", "ns.sub.example.com.",
      "nope.example.com.", "deep.nope.example.com.", "example.org.", "80.2.0.192.in-addr.arpa.",
      "1.2.0.192.in-addr.arpa.", "9.2.0.192.in-addr.arpa.", "2.0.192.in-addr.arpa."};
  const std::vector<std::string> types = {"A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "PTR", "SRV"};
  std::vector<std::pair<std::string, std::string>> questions;
  for (const std::string& name : names) {
    for (const std::string& type : types) questions.emplace_back(name, type);
  }
  const int compared =
      compare({{"example.com", "served.zone"}, {"2.0.192.in-addr.arpa", "served_reverse.zone"}}, questions);
  EXPECT_EQ(compared, static_cast<int>(questions.size() * 2));
}

// The zones of the zone unit tests (every feature the loader knows) and the questions NSD was
// asked for nsd_answers.txt, this time through the network.
TEST_P(DnsServerBesideNsd, AnswersTheZoneTestsQuestionsAsNsdDoes) {
  if (::access(nsd_bin, X_OK) != 0) GTEST_SKIP() << "NSD is not installed (apt-get install nsd)";
  std::ifstream answers(dns_test_dir + "/nsd_answers.txt");
  std::vector<std::pair<std::string, std::string>> questions;
  for (std::string line; std::getline(answers, line);) {
    if (line.rfind("Q ", 0) != 0) continue;
    const std::size_t space = line.find(' ', 2);
    questions.emplace_back(line.substr(2, space - 2) + ".", line.substr(space + 1));
  }
  ASSERT_GE(questions.size(), 60u);
  const int compared = compare({{"example.com", "example.zone"}, {"2.0.192.in-addr.arpa", "reverse.zone"}}, questions);
  EXPECT_EQ(compared, static_cast<int>(questions.size() * 2));
}

INSTANTIATE_TEST_SUITE_P(Backends, DnsServerBesideNsd, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
