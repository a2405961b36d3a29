// CPU kernels for every op. Ops run on the calling context's PinnedPool, float32 in place.
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "ops_generated.h"
#include "thread_pool.h"

namespace mosaic {

// The schema of an op by name, or nullptr (the table itself is generated: ops_generated.h).
const OpSchema* findOpSchema(const std::string& name);

// Memory guard only (integers in [0, 2^40], buffer indices and lengths); the validation with
// messages is src/engine/native.ts validateGraph, which this layer trusts. Throws EngineError
// E_BAD_OP or E_BUFFER_RANGE; `where` prefixes the message, e.g. `task 3 op 1 (gemm)`.
void guardOp(const OpDesc& op, const std::vector<BufferView>& buffers, const std::string& where);

// Runs one (guarded) op. Data-dependent failures (a label outside [0, cols)) throw E_BAD_VALUE.
void runOp(const OpDesc& op, const std::vector<BufferView>& buffers, PinnedPool& pool);

// C[m x n] = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is m x k, op(B) is k x n.
void gemm(PinnedPool& pool, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
          const float* A, const float* B, float beta, float* C);

}  // namespace mosaic
