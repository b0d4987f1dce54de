// Reactor::resolve on a running worker, for every backend: a name is looked up off the worker and
// answered on it (the callback runs on the asking worker's thread, between batches), a numeric
// host is answered without the resolver, and a name that does not exist is an error naming it.
#include <future>
#include <thread>

#include "support/test_support.hpp"

namespace salvo::test {
namespace {

using Resolve = SmallPoolPerBackend;

struct Answer {
  Result<std::vector<Address>> result = Error::make(Errc::invalid_state, "no answer");
  std::thread::id thread;
  unsigned worker = 99;
};

Answer ask(Engine& engine, unsigned worker, const std::string& host, std::uint16_t port) {
  std::promise<Answer> promise;
  auto answered = promise.get_future();
  std::thread::id worker_thread;
  run_on_worker(
      engine,
      [&](Reactor& r) {
        worker_thread = std::this_thread::get_id();
        r.resolve(host, port, [&promise, &r](Result<std::vector<Address>> result) {
          promise.set_value(Answer{std::move(result), std::this_thread::get_id(), r.worker_index()});
        });
      },
      worker);
  if (answered.wait_for(20s) != std::future_status::ready) throw std::runtime_error("no answer within 20 s");
  Answer a = answered.get();
  EXPECT_EQ(a.thread, worker_thread) << "answered off the asking worker";
  return a;
}

TEST_P(Resolve, LocalhostIsAnsweredOnTheAskingWorker) {
  EngineOptions o = options();
  o.workers = 2;
  auto engine = make_engine(o);
  must_start(*engine);
  const Answer a = ask(*engine, 1, "localhost", 9000);
  ASSERT_TRUE(a.result) << a.result.error().message;
  EXPECT_EQ(a.worker, 1u);
  ASSERT_FALSE(a.result->empty());
  for (const Address& address : *a.result) {
    EXPECT_EQ(address.port(), 9000);
    EXPECT_TRUE(address == addr("127.0.0.1:9000") || address == addr("[::1]:9000")) << address.to_string();
  }
  stop_and_wait(*engine);
}

TEST_P(Resolve, NumericHostNeedsNoResolver) {
  auto engine = make_engine(options());
  must_start(*engine);
  const Answer a = ask(*engine, 0, "::1", 53);
  ASSERT_TRUE(a.result) << a.result.error().message;
  EXPECT_EQ(*a.result, (std::vector<Address>{addr("[::1]:53")}));
  stop_and_wait(*engine);
}

TEST_P(Resolve, NameThatDoesNotExistIsAnErrorNamingIt) {
  auto engine = make_engine(options());
  must_start(*engine);
  const Answer a = ask(*engine, 0, "no-such-host.invalid", 53);
  ASSERT_FALSE(a.result);
  EXPECT_EQ(a.result.error().code, make_error_code(Errc::name_not_resolved));
  EXPECT_NE(a.result.error().message.find("no-such-host.invalid"), std::string::npos) << a.result.error().message;
  stop_and_wait(*engine);
}

INSTANTIATE_TEST_SUITE_P(Backends, Resolve, testing::ValuesIn(available_backends()), backend_test_name);

}  // namespace
}  // namespace salvo::test
