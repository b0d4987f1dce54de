#include "common/load_start.hpp"

#include <algorithm>

#include "common/start_at.hpp"

namespace salvo::cli {

LoadStart::LoadStart(unsigned workers) : workers_(workers) {}

void LoadStart::enlist(unsigned worker, Sender& sender, Transport& transport) {
  Worker& w = workers_.at(worker);
  if (w.open) {
    sender.begin(transport, w.epoch);
    return;
  }
  w.senders.push_back({&sender, &transport});
}

void LoadStart::withdraw(unsigned worker, Sender& sender) noexcept {
  std::vector<Enlisted>& list = workers_[worker].senders;
  list.erase(std::remove_if(list.begin(), list.end(), [&](const Enlisted& e) { return e.sender == &sender; }),
             list.end());
}

Result<void> LoadStart::open(Engine& engine, Time epoch) {
  for (unsigned i = 0; i < workers_.size(); ++i) {
    auto posted = engine.post(i, [this, i, epoch] {
      Worker& w = workers_[i];
      w.open = true;
      w.epoch = epoch;
      // begin may stop its socket at once (nothing to send), which withdraws it: walk a copy.
      const std::vector<Enlisted> senders = std::move(w.senders);
      w.senders.clear();
      for (const Enlisted& e : senders) e.sender->begin(*e.transport, epoch);
    });
    if (!posted) return posted;
  }
  return {};
}

void LoadStart::sending(unsigned worker) noexcept {
  Worker& w = workers_[worker];
  if (w.began_unix_ns == 0) w.began_unix_ns = wall_clock_ns();
}

std::int64_t LoadStart::began_unix_ns() const noexcept {
  std::int64_t first = 0;
  for (const Worker& w : workers_) {
    if (w.began_unix_ns != 0 && (first == 0 || w.began_unix_ns < first)) first = w.began_unix_ns;
  }
  return first;
}

}  // namespace salvo::cli
