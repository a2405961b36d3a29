#include "graph.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cpu_ops.h"
#include "thread_pool.h"

namespace mosaic {

void guardGraph(const GraphSpec& g) {
  for (const auto& c : g.contexts) {
    if (c.cores.empty()) throw EngineError("E_CORES", "context " + std::to_string(c.id) + " has no cores");
  }
  for (const auto& t : g.tasks) {
    if (t.context < 0 || static_cast<size_t>(t.context) >= g.contexts.size()) {
      throw EngineError("E_BAD_GRAPH", "task " + std::to_string(t.id) + " names an unknown context");
    }
    for (size_t k = 0; k < t.ops.size(); ++k) {
      guardOp(t.ops[k], g.buffers,
              "task " + std::to_string(t.id) + " op " + std::to_string(k) + " (" + schemaOf(t.ops[k].kind).name + ")");
    }
  }
  // Kahn's algorithm: anything left over sits on a cycle.
  size_t n = g.tasks.size();
  std::vector<int> indeg(n, 0);
  std::vector<std::vector<int>> out(n);
  for (size_t t = 0; t < n; ++t) {
    for (int d : g.tasks[t].deps) {
      if (d < 0 || static_cast<size_t>(d) >= n) throw EngineError("E_BAD_GRAPH", "bad dependency index");
      ++indeg[t];
      out[d].push_back(static_cast<int>(t));
    }
  }
  std::vector<int> stack;
  for (size_t t = 0; t < n; ++t) if (indeg[t] == 0) stack.push_back(static_cast<int>(t));
  size_t seen = 0;
  while (!stack.empty()) {
    int t = stack.back();
    stack.pop_back();
    ++seen;
    for (int s : out[t]) if (--indeg[s] == 0) stack.push_back(s);
  }
  if (seen != n) {
    std::string ids;
    int shown = 0;
    for (size_t t = 0; t < n && shown < 8; ++t) {
      if (indeg[t] > 0) {
        ids += (ids.empty() ? "" : ", ") + std::to_string(g.tasks[t].id);
        ++shown;
      }
    }
    throw EngineError("E_CYCLE", "the task graph has a dependency cycle through tasks " + ids);
  }
}

namespace {

enum class TaskState { Waiting, Running, Done, Interrupted };

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> remainingDeps;
  std::vector<TaskState> state;
  std::vector<std::vector<int>> dependents;
  bool stop = false;  // failure or cancellation: no new tasks start
  GraphOutcome outcome;
  // Bumped (under mu) whenever a task ends or the run stops; a waiting executor spins on it briefly
  // before sleeping on cv.
  std::atomic<uint64_t> generation{0};
};

// How long an idle executor spins for the next finished dependency before sleeping on the condition
// variable. Waking a sleeping thread costs ~15-20 us per cross-context dependency (measured by
// `mosaic profile`); a microbatch hop between colocated modules is usually shorter than this wait.
constexpr std::chrono::microseconds kSpinBeforeSleep{200};

int64_t nowNs(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
}

void contextLoop(const GraphSpec& g, int ctx, Shared& sh, const std::atomic<bool>& cancel,
                 std::chrono::steady_clock::time_point t0) {
  const ContextSpec& spec = g.contexts[ctx];
  std::string pinErr = pinCurrentThread(spec.cores[0]);
  std::vector<int> mine;
  for (size_t t = 0; t < g.tasks.size(); ++t) if (g.tasks[t].context == ctx) mine.push_back(static_cast<int>(t));
  auto fail = [&](const std::string& code, const std::string& msg, int64_t task, int64_t op) {
    std::lock_guard<std::mutex> lock(sh.mu);
    if (!sh.outcome.failed) {
      sh.outcome.failed = true;
      sh.outcome.code = code;
      sh.outcome.message = msg;
      sh.outcome.failedTask = task;
      sh.outcome.failedOp = op;
    }
    sh.stop = true;
    sh.generation.fetch_add(1, std::memory_order_release);
    sh.cv.notify_all();
  };
  if (!pinErr.empty()) {
    fail("E_CORES", "context " + std::to_string(spec.id) + ": " + pinErr, -1, -1);
    return;
  }
  PinnedPool pool(spec.cores);
  size_t doneCount = 0;
  for (;;) {
    int next = -1;
    int64_t startNs = 0;
    {
      std::unique_lock<std::mutex> lock(sh.mu);
      for (;;) {
        if (sh.stop || cancel.load(std::memory_order_relaxed) || doneCount == mine.size()) break;
        for (int t : mine) {
          if (sh.state[t] == TaskState::Waiting && sh.remainingDeps[t] == 0) {
            next = t;
            break;
          }
        }
        if (next >= 0) break;
        // Spin (lock released) until another task ends, for a short while; then sleep. The spin runs
        // on this context's own core, which has nothing else to do.
        const uint64_t seen = sh.generation.load(std::memory_order_acquire);
        lock.unlock();
        const auto spinUntil = std::chrono::steady_clock::now() + kSpinBeforeSleep;
        bool changed = false;
        while (std::chrono::steady_clock::now() < spinUntil) {
          if (sh.generation.load(std::memory_order_acquire) != seen || cancel.load(std::memory_order_relaxed)) {
            changed = true;
            break;
          }
        }
        lock.lock();
        if (changed || sh.generation.load(std::memory_order_acquire) != seen) continue;
        // Wake up now and then to notice cancellation even when no task finishes.
        sh.cv.wait_for(lock, std::chrono::milliseconds(20));
      }
      if (next < 0) return;
      // The start is stamped under the lock that marks the task running, so a task that sees this
      // one running (the testWaitFor seam) started no earlier than this stamp.
      sh.state[next] = TaskState::Running;
      startNs = nowNs(t0);
    }
    std::string pe = pool.pinErrors();
    if (!pe.empty()) {
      fail("E_CORES", "context " + std::to_string(spec.id) + ": " + pe, g.tasks[next].id, -1);
      return;
    }
    const TaskSpec& task = g.tasks[next];
    TaskRecord rec;
    rec.id = task.id;
    rec.context = spec.id;
    rec.startNs = startNs;
    if (task.waitForStart >= 0 || task.waitForCancel) {
      // Test seam: hold before the first op (polling; the waited-for event does not signal the cv).
      std::unique_lock<std::mutex> lock(sh.mu);
      while (!sh.stop && !cancel.load(std::memory_order_relaxed) &&
             !(task.waitForStart >= 0 && sh.state[task.waitForStart] != TaskState::Waiting)) {
        sh.cv.wait_for(lock, std::chrono::milliseconds(1));
      }
    }
    size_t k = 0;
    bool interrupted = false;
    for (; k < task.ops.size(); ++k) {
      if (cancel.load(std::memory_order_relaxed)) {
        interrupted = true;
        break;
      }
      {
        std::lock_guard<std::mutex> lock(sh.mu);
        if (sh.stop) {
          interrupted = true;
          break;
        }
      }
      try {
        runOp(task.ops[k], g.buffers, pool);
      } catch (const EngineError& e) {
        fail(e.code(), "task " + std::to_string(task.id) + " op " + std::to_string(k) + " (" +
                           schemaOf(task.ops[k].kind).name + "): " + e.what(),
             task.id, static_cast<int64_t>(k));
        std::lock_guard<std::mutex> lock(sh.mu);
        sh.state[next] = TaskState::Interrupted;
        sh.outcome.interrupted.push_back({task.id, static_cast<int64_t>(k)});
        return;
      } catch (const std::exception& e) {
        fail("E_INTERNAL", std::string("task ") + std::to_string(task.id) + ": " + e.what(), task.id,
             static_cast<int64_t>(k));
        std::lock_guard<std::mutex> lock(sh.mu);
        sh.state[next] = TaskState::Interrupted;
        sh.outcome.interrupted.push_back({task.id, static_cast<int64_t>(k)});
        return;
      }
    }
    rec.endNs = nowNs(t0);
    std::lock_guard<std::mutex> lock(sh.mu);
    if (interrupted) {
      sh.state[next] = TaskState::Interrupted;
      sh.outcome.interrupted.push_back({task.id, static_cast<int64_t>(k)});
      sh.generation.fetch_add(1, std::memory_order_release);
    sh.cv.notify_all();
      return;
    }
    sh.state[next] = TaskState::Done;
    sh.outcome.completed.push_back(rec);
    ++doneCount;
    for (int s : sh.dependents[next]) --sh.remainingDeps[s];
    sh.generation.fetch_add(1, std::memory_order_release);
    sh.cv.notify_all();
  }
}

}  // namespace

GraphOutcome executeGraph(const GraphSpec& g, const std::atomic<bool>& cancel) {
  Shared sh;
  size_t n = g.tasks.size();
  sh.remainingDeps.assign(n, 0);
  sh.state.assign(n, TaskState::Waiting);
  sh.dependents.assign(n, {});
  for (size_t t = 0; t < n; ++t) {
    sh.remainingDeps[t] = static_cast<int>(g.tasks[t].deps.size());
    for (int d : g.tasks[t].deps) sh.dependents[d].push_back(static_cast<int>(t));
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < g.contexts.size(); ++c) {
    bool hasWork = std::any_of(g.tasks.begin(), g.tasks.end(),
                               [&](const TaskSpec& t) { return t.context == static_cast<int>(c); });
    if (hasWork) {
      threads.emplace_back(contextLoop, std::cref(g), static_cast<int>(c), std::ref(sh), std::cref(cancel), t0);
    }
  }
  for (auto& th : threads) th.join();
  GraphOutcome out = std::move(sh.outcome);
  out.wallNs = nowNs(t0);
  for (size_t t = 0; t < n; ++t) {
    if (sh.state[t] == TaskState::Waiting) out.notStarted.push_back(g.tasks[t].id);
  }
  out.cancelled = !out.failed && cancel.load() && out.completed.size() < n;
  return out;
}

}  // namespace mosaic
