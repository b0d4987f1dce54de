// detail::Resolver: jobs answered one at a time in the order they were queued, each `done` called
// exactly once and on the resolver thread; shutdown() cancels what is still queued, waits for the
// lookup in progress, and answers later jobs at once. Every wait is bounded; none sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "names/resolver.hpp"
#include "support/test_support.hpp"

namespace salvo::detail {
namespace {

using namespace std::chrono_literals;

constexpr auto budget = 30s;  // far above a lookup of localhost or of a .invalid name

// What each job's `done` received, in the order the calls came, and on which thread.
class Answers {
 public:
  Resolver::Done done_for(int job) {
    return [this, job](Result<std::vector<Address>> result) {
      std::lock_guard lock(mutex_);
      calls_.push_back(Call{job, std::move(result), std::this_thread::get_id()});
      changed_.notify_all();
    };
  }

  // True once at least `n` calls came, within the budget.
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, budget, [&] { return calls_.size() >= n; });
  }

  struct Call {
    int job;
    Result<std::vector<Address>> result;
    std::thread::id thread;
  };
  std::vector<Call> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Call> calls_;
};

void expect_cancelled(const Result<std::vector<Address>>& result) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, make_error_code(Errc::cancelled));
  EXPECT_EQ(result.error().message, "resolver shut down");
}

TEST(Resolver, JobsAnsweredOnceEachInQueueOrder) {
  Answers answers;
  Resolver resolver;
  resolver.resolve("localhost", 9000, Address::Family::none, answers.done_for(0));
  resolver.resolve("127.0.0.1", 9001, Address::Family::none, answers.done_for(1));
  resolver.resolve("no-such-host.invalid", 9002, Address::Family::none, answers.done_for(2));
  ASSERT_TRUE(answers.wait_for(3));
  resolver.shutdown();  // nothing queued is left to cancel: no fourth call
  const auto calls = answers.calls();
  ASSERT_EQ(calls.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(calls[i].job, i);
  for (const auto& c : calls) {
    EXPECT_NE(c.thread, std::this_thread::get_id()) << "done runs on the resolver thread";
    EXPECT_EQ(c.thread, calls[0].thread) << "one resolver thread";
  }
  ASSERT_TRUE(calls[0].result.ok()) << calls[0].result.error().message;
  ASSERT_FALSE(calls[0].result->empty());
  for (const Address& a : *calls[0].result) EXPECT_EQ(a.port(), 9000);
  ASSERT_TRUE(calls[1].result.ok()) << calls[1].result.error().message;
  EXPECT_EQ(*calls[1].result, std::vector<Address>{Address::ipv4_loopback(9001)});
  ASSERT_FALSE(calls[2].result.ok());
  EXPECT_EQ(calls[2].result.error().code, make_error_code(Errc::name_not_resolved));
  EXPECT_NE(calls[2].result.error().message.find("no-such-host.invalid"), std::string::npos);
}

TEST(Resolver, FamilyReachesTheLookup) {
  Answers answers;
  Resolver resolver;
  resolver.resolve("localhost", 7, Address::Family::v4, answers.done_for(0));
  ASSERT_TRUE(answers.wait_for(1));
  const auto calls = answers.calls();
  ASSERT_TRUE(calls[0].result.ok()) << calls[0].result.error().message;
  EXPECT_EQ(*calls[0].result, std::vector<Address>{Address::ipv4_loopback(7)});
}

TEST(Resolver, ShutdownCancelsQueuedJobsAndWaitsForTheOneInProgress) {
  Answers answers;
  Resolver resolver;
  // The first job's `done` holds the resolver thread until the test lets it go, so that the two
  // after it are certainly still queued when shutdown() comes.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Resolver::Done record_first = answers.done_for(0);
  resolver.resolve("127.0.0.1", 1, Address::Family::none,
                   [&, released, record_first](Result<std::vector<Address>> result) {
                     entered.set_value();
                     released.wait_for(budget);  // bounded: a failing test ends instead of hanging
                     record_first(std::move(result));
                   });
  ASSERT_EQ(entered.get_future().wait_for(budget), std::future_status::ready);
  resolver.resolve("localhost", 2, Address::Family::none, answers.done_for(1));
  resolver.resolve("localhost", 3, Address::Family::none, answers.done_for(2));

  std::thread::id stopper_id;
  std::thread stopper([&] {
    stopper_id = std::this_thread::get_id();
    resolver.shutdown();
  });
  // The queued jobs hear before the one in progress ends, and from shutdown()'s thread.
  ASSERT_TRUE(answers.wait_for(2));
  auto calls = answers.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].job, 1);
  EXPECT_EQ(calls[1].job, 2);
  for (const auto& c : calls) expect_cancelled(c.result);
  release.set_value();
  stopper.join();  // returns only after the job in progress has finished
  calls = answers.calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].thread, stopper_id);
  EXPECT_EQ(calls[2].job, 0);
  ASSERT_TRUE(calls[2].result.ok()) << calls[2].result.error().message;
  EXPECT_EQ(*calls[2].result, std::vector<Address>{Address::ipv4_loopback(1)});
}

TEST(Resolver, AfterShutdownJobsAreCancelledAtOnce) {
  Answers answers;
  Resolver resolver;
  resolver.shutdown();
  resolver.shutdown();  // idempotent
  resolver.resolve("localhost", 1, Address::Family::none, answers.done_for(0));
  const auto calls = answers.calls();  // no wait: answered before resolve() returned
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].thread, std::this_thread::get_id());
  expect_cancelled(calls[0].result);
}

TEST(Resolver, DestructorAnswersEveryJobOnce) {
  Answers answers;
  constexpr int jobs = 20;
  {
    Resolver resolver;
    for (int i = 0; i < jobs; ++i) resolver.resolve("localhost", 1, Address::Family::none, answers.done_for(i));
  }
  // Some were looked up and the rest cancelled; which ones depends on timing, the count does not.
  const auto calls = answers.calls();
  ASSERT_EQ(calls.size(), static_cast<std::size_t>(jobs));
  std::map<int, int> per_job;
  for (const auto& c : calls) {
    ++per_job[c.job];
    if (!c.result.ok()) expect_cancelled(c.result);
  }
  for (int i = 0; i < jobs; ++i) EXPECT_EQ(per_job[i], 1) << "job " << i;
}

TEST(Resolver, DoneMayQueueTheNextJob) {
  Answers answers;
  Resolver resolver;
  Resolver::Done second = answers.done_for(1);
  Resolver::Done first = answers.done_for(0);
  resolver.resolve("127.0.0.1", 1, Address::Family::none, [&, first, second](Result<std::vector<Address>> r) {
    first(std::move(r));
    resolver.resolve("127.0.0.1", 2, Address::Family::none, second);
  });
  ASSERT_TRUE(answers.wait_for(2));
  const auto calls = answers.calls();
  ASSERT_TRUE(calls[1].result.ok()) << calls[1].result.error().message;
  EXPECT_EQ(*calls[1].result, std::vector<Address>{Address::ipv4_loopback(2)});
}

}  // namespace
}  // namespace salvo::detail
