// Task-graph executor: one thread per context, pinned to the context's first core, driving a
// PinnedPool over all of the context's cores. A context runs its ready tasks one at a time in
// submission order; a task is ready when every dependency has finished.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "common.h"
#include "ops_generated.h"

namespace mosaic {

struct ContextSpec {
  int64_t id = 0;
  std::vector<int> cores;
};

struct TaskSpec {
  int64_t id = 0;
  int context = 0;            // index into GraphSpec::contexts
  std::vector<OpDesc> ops;
  std::vector<int> deps;      // indices into GraphSpec::tasks
  // Test seam (TaskSpec.testWaitFor in src/engine/native.ts): after the task starts and before its
  // first op, wait until task `waitForStart` (an index) has started, or until the run is cancelled
  // (`waitForCancel`). Lets tests order concurrent events without sleeping.
  int waitForStart = -1;
  bool waitForCancel = false;
};

struct GraphSpec {
  std::vector<ContextSpec> contexts;
  std::vector<TaskSpec> tasks;
  std::vector<BufferView> buffers;
};

struct TaskRecord {
  int64_t id = 0;
  int64_t context = 0;
  int64_t startNs = 0;  // relative to the start of the run
  int64_t endNs = 0;
};

struct InterruptedTask {
  int64_t id = 0;
  int64_t opsCompleted = 0;
};

struct GraphOutcome {
  std::vector<TaskRecord> completed;      // in completion order
  std::vector<InterruptedTask> interrupted;
  std::vector<int64_t> notStarted;
  int64_t wallNs = 0;
  bool cancelled = false;
  bool failed = false;
  std::string code;
  std::string message;
  int64_t failedTask = -1;
  int64_t failedOp = -1;
};

// Guards, not validation (src/engine/native.ts validateGraph validates every graph with messages
// for a person, and this layer trusts it): what would otherwise corrupt memory or hang a run --
// a context without cores, an op outside its buffers, a dependency cycle. Throws EngineError.
void guardGraph(const GraphSpec& g);

// Runs the graph. Never throws for task failures: they are reported in the outcome.
GraphOutcome executeGraph(const GraphSpec& g, const std::atomic<bool>& cancel);

}  // namespace mosaic
