#include "thread_pool.h"

#include <sched.h>

#include <cerrno>
#include <cstring>

namespace mosaic {

std::string pinCurrentThread(int core) {
  if (core < 0 || core >= CPU_SETSIZE) return "core " + std::to_string(core) + " is out of range";
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  // pid 0 = the calling thread (Linux affinity is per thread).
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    return "sched_setaffinity(core " + std::to_string(core) + "): " + std::strerror(errno);
  }
  return "";
}

std::vector<int> allowedCores() {
  std::vector<int> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}

PinnedPool::PinnedPool(const std::vector<int>& cores) : n_(static_cast<int>(cores.size())) {
  if (n_ < 1) n_ = 1;
  for (int t = 1; t < n_; ++t) {
    helpers_.emplace_back([this, t, core = cores[t]] { helperLoop(t, core); });
  }
}

PinnedPool::~PinnedPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& th : helpers_) th.join();
}

std::string PinnedPool::pinErrors() {
  std::lock_guard<std::mutex> lock(mu_);
  return pinErrors_;
}

void PinnedPool::helperLoop(int tid, int core) {
  std::string err = pinCurrentThread(core);
  if (!err.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    pinErrors_ += (pinErrors_.empty() ? "" : "; ") + err;
  }
  uint64_t seen = 0;
  for (;;) {
    const Job* job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    try {
      (*job)(tid, n_);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) doneCv_.notify_one();
    }
  }
}

void PinnedPool::run(const Job& job) {
  if (n_ == 1) {
    job(0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &job;
    pending_ = n_ - 1;
    error_ = nullptr;
    ++generation_;
  }
  cv_.notify_all();
  std::exception_ptr mine;
  try {
    job(0, n_);
  } catch (...) {
    mine = std::current_exception();
  }
  std::exception_ptr theirs;
  {
    std::unique_lock<std::mutex> lock(mu_);
    doneCv_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
    theirs = error_;
    error_ = nullptr;
  }
  if (mine) std::rethrow_exception(mine);
  if (theirs) std::rethrow_exception(theirs);
}

void PinnedPool::split(int64_t count, int tid, int nth, int64_t* begin, int64_t* end) {
  int64_t base = count / nth;
  int64_t rem = count % nth;
  *begin = tid * base + (tid < rem ? tid : rem);
  *end = *begin + base + (tid < rem ? 1 : 0);
}

}  // namespace mosaic
