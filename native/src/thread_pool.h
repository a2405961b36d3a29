// A fixed team of threads pinned one-per-core with sched_setaffinity. The owning thread
// (the context's executor thread) is member 0 and pins itself; helpers are members 1..n-1.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mosaic {

// Pin the calling thread to one core. Returns an empty string on success, else the reason.
std::string pinCurrentThread(int core);
// Cores the process may run on (sched_getaffinity), ascending.
std::vector<int> allowedCores();

class PinnedPool {
 public:
  using Job = std::function<void(int tid, int nth)>;

  explicit PinnedPool(const std::vector<int>& cores);
  ~PinnedPool();
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;

  int size() const { return n_; }
  // Runs job(tid, n) on every member, the caller being tid 0; returns when all are done.
  // Rethrows the first exception thrown by any member.
  void run(const Job& job);
  // Static split of [0, count) for member tid of nth.
  static void split(int64_t count, int tid, int nth, int64_t* begin, int64_t* end);
  // Pinning failures of helpers (empty when all pinned).
  std::string pinErrors();

 private:
  void helperLoop(int tid, int core);

  int n_;
  std::vector<std::thread> helpers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable doneCv_;
  const Job* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::string pinErrors_;
};

}  // namespace mosaic
