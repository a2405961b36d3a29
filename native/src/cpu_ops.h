// CPU kernels for every op. Ops run on the calling context's PinnedPool, float32 in place.
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "thread_pool.h"

namespace mosaic {

// Throws EngineError E_BAD_OP (bad dimensions/flags/aliasing) or E_BUFFER_RANGE (buffer index
// missing or too short). `where` prefixes the message, e.g. `task 3 op 1 (gemm)`.
void validateOp(const OpDesc& op, const std::vector<BufferView>& buffers, const std::string& where);

// Runs one op. Data-dependent failures (a label outside [0, cols)) throw E_BAD_VALUE.
void runOp(const OpDesc& op, const std::vector<BufferView>& buffers, PinnedPool& pool);

// C[m x n] = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is m x k, op(B) is k x n.
void gemm(PinnedPool& pool, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
          const float* A, const float* B, float beta, float* C);

}  // namespace mosaic
