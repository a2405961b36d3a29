// Op schemas, validation and the CPU kernels (everything except GEMM, see gemm.cc).
// Reductions accumulate in double so the results track the float64 JS reference closely.
#include "cpu_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace mosaic {

const std::vector<OpSchema>& opSchemas() {
  static const std::vector<OpSchema> kSchemas = {
      {"gemm", OpKind::Gemm, {"a", "b", "c"}, {"m", "n", "k", "transA", "transB"}, {"alpha", "beta"}},
      {"biasAdd", OpKind::BiasAdd, {"x", "bias"}, {"rows", "cols"}, {}},
      {"relu", OpKind::Relu, {"x", "y"}, {"n"}, {}},
      {"reluBackward", OpKind::ReluBackward, {"x", "dy", "dx"}, {"n"}, {}},
      {"gelu", OpKind::Gelu, {"x", "y"}, {"n"}, {}},
      {"geluBackward", OpKind::GeluBackward, {"x", "dy", "dx"}, {"n"}, {}},
      {"softmax", OpKind::Softmax, {"x", "y"}, {"rows", "cols"}, {}},
      {"softmaxBackward", OpKind::SoftmaxBackward, {"y", "dy", "dx"}, {"rows", "cols"}, {}},
      {"attention", OpKind::Attention, {"q", "k", "v", "out", "probs"},
       {"batch", "seqQ", "seqK", "dim", "causal"}, {"scale"}},
      {"attentionBackward", OpKind::AttentionBackward, {"q", "k", "v", "probs", "dOut", "dQ", "dK", "dV"},
       {"batch", "seqQ", "seqK", "dim"}, {"scale"}},
      {"layerNorm", OpKind::LayerNorm, {"x", "gamma", "beta", "y", "mean", "rstd"}, {"rows", "cols"}, {"eps"}},
      {"layerNormBackward", OpKind::LayerNormBackward,
       {"x", "gamma", "mean", "rstd", "dy", "dx", "dGamma", "dBeta"}, {"rows", "cols"}, {}},
      {"mseLoss", OpKind::MseLoss, {"pred", "target", "loss"}, {"n"}, {}},
      {"mseLossBackward", OpKind::MseLossBackward, {"pred", "target", "dPred"}, {"n"}, {}},
      {"softmaxCrossEntropy", OpKind::SoftmaxCrossEntropy, {"logits", "labels", "loss", "probs"},
       {"rows", "cols"}, {}},
      {"softmaxCrossEntropyBackward", OpKind::SoftmaxCrossEntropyBackward, {"probs", "labels", "dLogits"},
       {"rows", "cols"}, {}},
      {"sgd", OpKind::Sgd, {"param", "grad"}, {"n"}, {"lr", "weightDecay"}},
      {"adam", OpKind::Adam, {"param", "grad", "m", "v"}, {"n", "step"},
       {"lr", "beta1", "beta2", "eps", "weightDecay"}},
      {"reduceRows", OpKind::ReduceRows, {"x", "y"}, {"rows", "cols", "accumulate"}, {}},
      {"copy", OpKind::Copy, {"src", "dst"}, {"n", "srcOffset", "dstOffset"}, {}},
      {"accumulate", OpKind::Accumulate, {"src", "dst"}, {"n", "srcOffset", "dstOffset"}, {"alpha"}},
      {"fill", OpKind::Fill, {"dst"}, {"n", "offset"}, {"value"}},
  };
  return kSchemas;
}

const OpSchema* findOpSchema(const std::string& name) {
  for (const auto& s : opSchemas()) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

const OpSchema& schemaOf(OpKind kind) {
  for (const auto& s : opSchemas()) {
    if (s.kind == kind) return s;
  }
  throw EngineError("E_INTERNAL", "no schema for op kind");
}

namespace {

constexpr int64_t kMaxElems = int64_t(1) << 40;

struct Need {
  int slot;        // index into op.buf
  int64_t elems;   // elements required from offset 0 (or offset + n)
  bool output;
};

// Which int fields are flags (0/1), offsets (>= 0) or step (>= 1); everything else is a size >= 1.
bool isFlag(const char* name) {
  return !std::strcmp(name, "transA") || !std::strcmp(name, "transB") || !std::strcmp(name, "causal") ||
         !std::strcmp(name, "accumulate");
}
bool isOffset(const char* name) {
  return !std::strcmp(name, "srcOffset") || !std::strcmp(name, "dstOffset") || !std::strcmp(name, "offset");
}

// Ops whose outputs may alias their inputs (elementwise or row-local with a read-before-write order).
bool inPlaceSafe(OpKind k) {
  switch (k) {
    case OpKind::Relu: case OpKind::ReluBackward: case OpKind::Gelu: case OpKind::GeluBackward:
    case OpKind::Softmax: case OpKind::SoftmaxBackward: case OpKind::LayerNorm:
      return true;
    default:
      return false;
  }
}

std::vector<Need> needsOf(const OpDesc& op) {
  const int64_t* I = op.i;
  switch (op.kind) {
    case OpKind::Gemm:
      return {{0, I[0] * I[2], false}, {1, I[2] * I[1], false}, {2, I[0] * I[1], true}};
    case OpKind::BiasAdd:
      return {{0, I[0] * I[1], true}, {1, I[1], false}};
    case OpKind::Relu: case OpKind::Gelu:
      return {{0, I[0], false}, {1, I[0], true}};
    case OpKind::ReluBackward: case OpKind::GeluBackward:
      return {{0, I[0], false}, {1, I[0], false}, {2, I[0], true}};
    case OpKind::Softmax:
      return {{0, I[0] * I[1], false}, {1, I[0] * I[1], true}};
    case OpKind::SoftmaxBackward:
      return {{0, I[0] * I[1], false}, {1, I[0] * I[1], false}, {2, I[0] * I[1], true}};
    case OpKind::Attention: {
      int64_t b = I[0], sq = I[1], sk = I[2], d = I[3];
      return {{0, b * sq * d, false}, {1, b * sk * d, false}, {2, b * sk * d, false},
              {3, b * sq * d, true}, {4, b * sq * sk, true}};
    }
    case OpKind::AttentionBackward: {
      int64_t b = I[0], sq = I[1], sk = I[2], d = I[3];
      return {{0, b * sq * d, false}, {1, b * sk * d, false}, {2, b * sk * d, false},
              {3, b * sq * sk, false}, {4, b * sq * d, false}, {5, b * sq * d, true},
              {6, b * sk * d, true}, {7, b * sk * d, true}};
    }
    case OpKind::LayerNorm: {
      int64_t r = I[0], c = I[1];
      return {{0, r * c, false}, {1, c, false}, {2, c, false}, {3, r * c, true}, {4, r, true}, {5, r, true}};
    }
    case OpKind::LayerNormBackward: {
      int64_t r = I[0], c = I[1];
      return {{0, r * c, false}, {1, c, false}, {2, r, false}, {3, r, false}, {4, r * c, false},
              {5, r * c, true}, {6, c, true}, {7, c, true}};
    }
    case OpKind::MseLoss:
      return {{0, I[0], false}, {1, I[0], false}, {2, 1, true}};
    case OpKind::MseLossBackward:
      return {{0, I[0], false}, {1, I[0], false}, {2, I[0], true}};
    case OpKind::SoftmaxCrossEntropy:
      return {{0, I[0] * I[1], false}, {1, I[0], false}, {2, 1, true}, {3, I[0] * I[1], true}};
    case OpKind::SoftmaxCrossEntropyBackward:
      return {{0, I[0] * I[1], false}, {1, I[0], false}, {2, I[0] * I[1], true}};
    case OpKind::Sgd:
      return {{0, I[0], true}, {1, I[0], false}};
    case OpKind::Adam:
      return {{0, I[0], true}, {1, I[0], false}, {2, I[0], true}, {3, I[0], true}};
    case OpKind::ReduceRows:
      return {{0, I[0] * I[1], false}, {1, I[1], true}};
    case OpKind::Copy: case OpKind::Accumulate:
      return {{0, I[1] + I[0], false}, {1, I[2] + I[0], true}};
    case OpKind::Fill:
      return {{0, I[1] + I[0], true}};
  }
  return {};
}

}  // namespace

void validateOp(const OpDesc& op, const std::vector<BufferView>& buffers, const std::string& where) {
  const OpSchema& s = schemaOf(op.kind);
  for (size_t j = 0; j < s.ints.size(); ++j) {
    const char* name = s.ints[j];
    int64_t v = op.i[j];
    if (isFlag(name)) {
      if (v != 0 && v != 1) {
        throw EngineError("E_BAD_OP", where + ": expected " + name + " to be a boolean but received " +
                                          std::to_string(v));
      }
    } else if (isOffset(name)) {
      if (v < 0 || v > kMaxElems) {
        throw EngineError("E_BAD_OP", where + ": expected " + name + " to be an integer >= 0 but received " +
                                          std::to_string(v));
      }
    } else if (v < 1 || v > kMaxElems) {
      throw EngineError("E_BAD_OP", where + ": expected " + name + " to be an integer >= 1 but received " +
                                        std::to_string(v));
    }
  }
  for (size_t j = 0; j < s.floats.size(); ++j) {
    if (!std::isfinite(op.f[j])) {
      throw EngineError("E_BAD_OP", where + ": expected " + s.floats[j] + " to be a finite number");
    }
  }
  if (op.kind == OpKind::LayerNorm && !(op.f[0] > 0)) {
    throw EngineError("E_BAD_OP", where + ": expected eps > 0 but received " + std::to_string(op.f[0]));
  }
  if (op.kind == OpKind::Adam) {
    if (!(op.f[1] >= 0 && op.f[1] < 1) || !(op.f[2] >= 0 && op.f[2] < 1)) {
      throw EngineError("E_BAD_OP", where + ": expected beta1 and beta2 in [0, 1)");
    }
    if (!(op.f[3] > 0)) throw EngineError("E_BAD_OP", where + ": expected eps > 0");
  }
  std::vector<Need> needs = needsOf(op);
  for (const Need& nd : needs) {
    int idx = op.buf[nd.slot];
    const char* name = s.buffers[nd.slot];
    if (idx < 0 || static_cast<size_t>(idx) >= buffers.size()) {
      throw EngineError("E_BUFFER_RANGE", where + ": buffer " + name + " = " + std::to_string(idx) +
                                              " is not one of the " + std::to_string(buffers.size()) +
                                              " buffers");
    }
    if (nd.elems > kMaxElems || static_cast<uint64_t>(nd.elems) > buffers[idx].length) {
      throw EngineError("E_BUFFER_RANGE", where + ": buffer " + name + " (#" + std::to_string(idx) + ") needs " +
                                              std::to_string(nd.elems) + " elements but has " +
                                              std::to_string(buffers[idx].length));
    }
  }
  // Aliasing: outputs never alias each other; they alias inputs only for in-place-safe ops.
  // copy/accumulate/fill work on ranges of one buffer and are checked below instead.
  if (op.kind == OpKind::Copy || op.kind == OpKind::Accumulate) {
    if (op.buf[0] == op.buf[1] && op.i[1] != op.i[2] &&
        std::max(op.i[1], op.i[2]) < std::min(op.i[1], op.i[2]) + op.i[0]) {
      throw EngineError("E_BAD_OP", where + ": source and destination ranges overlap in buffer #" +
                                        std::to_string(op.buf[0]));
    }
    return;
  }
  for (size_t x = 0; x < needs.size(); ++x) {
    for (size_t y = x + 1; y < needs.size(); ++y) {
      const Need& a = needs[x];
      const Need& b = needs[y];
      if (op.buf[a.slot] != op.buf[b.slot]) continue;
      if (!a.output && !b.output) continue;
      bool bothOut = a.output && b.output;
      bool paramLike = op.kind == OpKind::Sgd || op.kind == OpKind::Adam;  // param vs grad etc.
      // In place means element i of the output depends only on element i (or row i) of the input.
      bool sameShape = a.elems == b.elems;
      if (bothOut || !inPlaceSafe(op.kind) || paramLike || !sameShape) {
        throw EngineError("E_BAD_OP", where + ": buffers " + s.buffers[a.slot] + " and " + s.buffers[b.slot] +
                                          " must be different (both are #" + std::to_string(op.buf[a.slot]) + ")");
      }
    }
  }
}

namespace {

template <typename F>
void parallelRange(PinnedPool& pool, int64_t count, int64_t minPerThread, F&& fn) {
  if (pool.size() == 1 || count < 2 * minPerThread) {
    fn(int64_t(0), count, 0);
    return;
  }
  pool.run([&](int tid, int nth) {
    int64_t b, e;
    PinnedPool::split(count, tid, nth, &b, &e);
    if (b < e) fn(b, e, tid);
  });
}

inline float geluF(double x) {
  const double c = 0.7978845608028654;  // sqrt(2/pi)
  double u = c * (x + 0.044715 * x * x * x);
  return static_cast<float>(0.5 * x * (1.0 + std::tanh(u)));
}
inline double geluGrad(double x) {
  const double c = 0.7978845608028654;
  double u = c * (x + 0.044715 * x * x * x);
  double t = std::tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}

int64_t labelAt(const float* labels, int64_t r, int64_t cols) {
  float l = labels[r];
  if (!(l >= 0) || l >= static_cast<float>(cols) || l != std::floor(l)) {
    throw EngineError("E_BAD_VALUE", "label " + std::to_string(l) + " in row " + std::to_string(r) +
                                         " is not a class index in [0, " + std::to_string(cols) + ")");
  }
  return static_cast<int64_t>(l);
}

}  // namespace

void runOp(const OpDesc& op, const std::vector<BufferView>& B, PinnedPool& pool) {
  auto P = [&](int slot) { return B[op.buf[slot]].data; };
  const int64_t* I = op.i;
  const double* F = op.f;
  switch (op.kind) {
    case OpKind::Gemm:
      gemm(pool, I[3] != 0, I[4] != 0, I[0], I[1], I[2], static_cast<float>(F[0]), P(0), P(1),
           static_cast<float>(F[1]), P(2));
      return;
    case OpKind::BiasAdd: {
      float* x = P(0);
      const float* bias = P(1);
      int64_t cols = I[1];
      parallelRange(pool, I[0], 16, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          float* row = x + r * cols;
          for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
        }
      });
      return;
    }
    case OpKind::Relu: {
      const float* x = P(0);
      float* y = P(1);
      parallelRange(pool, I[0], 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) y[j] = x[j] > 0.0f ? x[j] : 0.0f;
      });
      return;
    }
    case OpKind::ReluBackward: {
      const float* x = P(0);
      const float* dy = P(1);
      float* dx = P(2);
      parallelRange(pool, I[0], 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dx[j] = x[j] > 0.0f ? dy[j] : 0.0f;
      });
      return;
    }
    case OpKind::Gelu: {
      const float* x = P(0);
      float* y = P(1);
      parallelRange(pool, I[0], 1 << 12, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) y[j] = geluF(x[j]);
      });
      return;
    }
    case OpKind::GeluBackward: {
      const float* x = P(0);
      const float* dy = P(1);
      float* dx = P(2);
      parallelRange(pool, I[0], 1 << 12, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dx[j] = static_cast<float>(dy[j] * geluGrad(x[j]));
      });
      return;
    }
    case OpKind::Softmax: {
      const float* x = P(0);
      float* y = P(1);
      int64_t cols = I[1];
      parallelRange(pool, I[0], 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* xr = x + r * cols;
          float* yr = y + r * cols;
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, xr[c]);
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) {
            double ex = std::exp(static_cast<double>(xr[c]) - mx);
            yr[c] = static_cast<float>(ex);
            sum += ex;
          }
          double inv = 1.0 / sum;
          for (int64_t c = 0; c < cols; ++c) yr[c] = static_cast<float>(yr[c] * inv);
        }
      });
      return;
    }
    case OpKind::SoftmaxBackward: {
      const float* y = P(0);
      const float* dy = P(1);
      float* dx = P(2);
      int64_t cols = I[1];
      parallelRange(pool, I[0], 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* yr = y + r * cols;
          const float* dyr = dy + r * cols;
          float* dxr = dx + r * cols;
          double dot = 0;
          for (int64_t c = 0; c < cols; ++c) dot += static_cast<double>(yr[c]) * dyr[c];
          for (int64_t c = 0; c < cols; ++c) dxr[c] = static_cast<float>(yr[c] * (dyr[c] - dot));
        }
      });
      return;
    }
    case OpKind::Attention: {
      const float *q = P(0), *k = P(1), *v = P(2);
      float *out = P(3), *probs = P(4);
      int64_t batch = I[0], sq = I[1], sk = I[2], d = I[3];
      bool causal = I[4] != 0;
      double scale = F[0];
      parallelRange(pool, batch * sq, 2, [&](int64_t b0, int64_t e0, int) {
        std::vector<double> s(static_cast<size_t>(sk));
        std::vector<double> o(static_cast<size_t>(d));
        for (int64_t row = b0; row < e0; ++row) {
          int64_t b = row / sq, i = row % sq;
          const float* qi = q + row * d;
          const float* kb = k + b * sk * d;
          const float* vb = v + b * sk * d;
          float* pr = probs + row * sk;
          int64_t limit = causal ? std::min(sk, i + (sk - sq) + 1) : sk;  // keys [0, limit) visible
          if (limit < 0) limit = 0;
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t j = 0; j < limit; ++j) {
            const float* kj = kb + j * d;
            double dot = 0;
            for (int64_t t = 0; t < d; ++t) dot += static_cast<double>(qi[t]) * kj[t];
            s[j] = dot * scale;
            mx = std::max(mx, s[j]);
          }
          double sum = 0;
          for (int64_t j = 0; j < limit; ++j) {
            s[j] = std::exp(s[j] - mx);
            sum += s[j];
          }
          std::fill(o.begin(), o.end(), 0.0);
          for (int64_t j = 0; j < sk; ++j) {
            double p = j < limit ? s[j] / sum : 0.0;
            pr[j] = static_cast<float>(p);
            if (p == 0.0) continue;
            const float* vj = vb + j * d;
            for (int64_t t = 0; t < d; ++t) o[t] += p * vj[t];
          }
          float* oi = out + row * d;
          for (int64_t t = 0; t < d; ++t) oi[t] = static_cast<float>(o[t]);
        }
      });
      return;
    }
    case OpKind::AttentionBackward: {
      const float *q = P(0), *k = P(1), *v = P(2), *probs = P(3), *dOut = P(4);
      float *dQ = P(5), *dK = P(6), *dV = P(7);
      int64_t batch = I[0], sq = I[1], sk = I[2], d = I[3];
      double scale = F[0];
      std::vector<float> dS(static_cast<size_t>(batch * sq * sk));
      // Pass 1, per query row: dP = dO V^T, dS = P * (dP - rowsum(P * dP)), dQ = scale dS K.
      parallelRange(pool, batch * sq, 2, [&](int64_t b0, int64_t e0, int) {
        std::vector<double> dp(static_cast<size_t>(sk));
        std::vector<double> acc(static_cast<size_t>(d));
        for (int64_t row = b0; row < e0; ++row) {
          int64_t b = row / sq;
          const float* pr = probs + row * sk;
          const float* doi = dOut + row * d;
          double c = 0;
          for (int64_t j = 0; j < sk; ++j) {
            const float* vj = v + (b * sk + j) * d;
            double dot = 0;
            for (int64_t t = 0; t < d; ++t) dot += static_cast<double>(doi[t]) * vj[t];
            dp[j] = dot;
            c += pr[j] * dot;
          }
          std::fill(acc.begin(), acc.end(), 0.0);
          float* dsr = dS.data() + row * sk;
          for (int64_t j = 0; j < sk; ++j) {
            double ds = pr[j] * (dp[j] - c);
            dsr[j] = static_cast<float>(ds);
            if (ds == 0.0) continue;
            const float* kj = k + (b * sk + j) * d;
            for (int64_t t = 0; t < d; ++t) acc[t] += ds * kj[t];
          }
          float* dqi = dQ + row * d;
          for (int64_t t = 0; t < d; ++t) dqi[t] = static_cast<float>(scale * acc[t]);
        }
      });
      // Pass 2, per key row: dK = scale dS^T Q, dV = P^T dO.
      parallelRange(pool, batch * sk, 2, [&](int64_t b0, int64_t e0, int) {
        std::vector<double> ak(static_cast<size_t>(d)), av(static_cast<size_t>(d));
        for (int64_t krow = b0; krow < e0; ++krow) {
          int64_t b = krow / sk, j = krow % sk;
          std::fill(ak.begin(), ak.end(), 0.0);
          std::fill(av.begin(), av.end(), 0.0);
          for (int64_t i = 0; i < sq; ++i) {
            int64_t row = b * sq + i;
            double ds = dS[row * sk + j];
            double p = probs[row * sk + j];
            const float* qi = q + row * d;
            const float* doi = dOut + row * d;
            if (ds != 0.0) for (int64_t t = 0; t < d; ++t) ak[t] += ds * qi[t];
            if (p != 0.0) for (int64_t t = 0; t < d; ++t) av[t] += p * doi[t];
          }
          float* dkj = dK + krow * d;
          float* dvj = dV + krow * d;
          for (int64_t t = 0; t < d; ++t) {
            dkj[t] = static_cast<float>(scale * ak[t]);
            dvj[t] = static_cast<float>(av[t]);
          }
        }
      });
      return;
    }
    case OpKind::LayerNorm: {
      const float *x = P(0), *gamma = P(1), *beta = P(2);
      float *y = P(3), *mean = P(4), *rstd = P(5);
      int64_t cols = I[1];
      double eps = F[0];
      parallelRange(pool, I[0], 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* xr = x + r * cols;
          float* yr = y + r * cols;
          double mu = 0;
          for (int64_t c = 0; c < cols; ++c) mu += xr[c];
          mu /= cols;
          double var = 0;
          for (int64_t c = 0; c < cols; ++c) {
            double t = xr[c] - mu;
            var += t * t;
          }
          var /= cols;
          double rs = 1.0 / std::sqrt(var + eps);
          mean[r] = static_cast<float>(mu);
          rstd[r] = static_cast<float>(rs);
          for (int64_t c = 0; c < cols; ++c) yr[c] = static_cast<float>((xr[c] - mu) * rs * gamma[c] + beta[c]);
        }
      });
      return;
    }
    case OpKind::LayerNormBackward: {
      const float *x = P(0), *gamma = P(1), *mean = P(2), *rstd = P(3), *dy = P(4);
      float *dx = P(5), *dGamma = P(6), *dBeta = P(7);
      int64_t rows = I[0], cols = I[1];
      // dGamma/dBeta first (reads dy), then dx.
      parallelRange(pool, cols, 16, [&](int64_t b, int64_t e, int) {
        for (int64_t c = b; c < e; ++c) {
          double g = 0, bsum = 0;
          for (int64_t r = 0; r < rows; ++r) {
            double xhat = (x[r * cols + c] - static_cast<double>(mean[r])) * rstd[r];
            g += dy[r * cols + c] * xhat;
            bsum += dy[r * cols + c];
          }
          dGamma[c] = static_cast<float>(g);
          dBeta[c] = static_cast<float>(bsum);
        }
      });
      parallelRange(pool, rows, 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* xr = x + r * cols;
          const float* dyr = dy + r * cols;
          float* dxr = dx + r * cols;
          double mu = mean[r], rs = rstd[r];
          double a = 0, bb = 0;
          for (int64_t c = 0; c < cols; ++c) {
            double g = static_cast<double>(dyr[c]) * gamma[c];
            a += g;
            bb += g * (xr[c] - mu) * rs;
          }
          a /= cols;
          bb /= cols;
          for (int64_t c = 0; c < cols; ++c) {
            double g = static_cast<double>(dyr[c]) * gamma[c];
            double xhat = (xr[c] - mu) * rs;
            dxr[c] = static_cast<float>(rs * (g - a - xhat * bb));
          }
        }
      });
      return;
    }
    case OpKind::MseLoss: {
      const float *pred = P(0), *target = P(1);
      int64_t n = I[0];
      std::vector<double> partial(static_cast<size_t>(pool.size()), 0.0);
      parallelRange(pool, n, 1 << 14, [&](int64_t b, int64_t e, int tid) {
        double s = 0;
        for (int64_t j = b; j < e; ++j) {
          double t = static_cast<double>(pred[j]) - target[j];
          s += t * t;
        }
        partial[tid] = s;
      });
      double total = 0;
      for (double s : partial) total += s;
      P(2)[0] = static_cast<float>(total / n);
      return;
    }
    case OpKind::MseLossBackward: {
      const float *pred = P(0), *target = P(1);
      float* dPred = P(2);
      int64_t n = I[0];
      double k2 = 2.0 / n;
      parallelRange(pool, n, 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dPred[j] = static_cast<float>(k2 * (static_cast<double>(pred[j]) - target[j]));
      });
      return;
    }
    case OpKind::SoftmaxCrossEntropy: {
      const float *logits = P(0), *labels = P(1);
      float* probs = P(3);
      int64_t rows = I[0], cols = I[1];
      for (int64_t r = 0; r < rows; ++r) labelAt(labels, r, cols);  // validate before writing
      std::vector<double> partial(static_cast<size_t>(pool.size()), 0.0);
      parallelRange(pool, rows, 8, [&](int64_t b, int64_t e, int tid) {
        double s = 0;
        for (int64_t r = b; r < e; ++r) {
          const float* xr = logits + r * cols;
          float* pr = probs + r * cols;
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, static_cast<double>(xr[c]));
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) sum += std::exp(xr[c] - mx);
          double lse = std::log(sum);
          for (int64_t c = 0; c < cols; ++c) pr[c] = static_cast<float>(std::exp(xr[c] - mx - lse));
          s += lse - (xr[labelAt(labels, r, cols)] - mx);
        }
        partial[tid] = s;
      });
      double total = 0;
      for (double s : partial) total += s;
      P(2)[0] = static_cast<float>(total / rows);
      return;
    }
    case OpKind::SoftmaxCrossEntropyBackward: {
      const float *probs = P(0), *labels = P(1);
      float* d = P(2);
      int64_t rows = I[0], cols = I[1];
      for (int64_t r = 0; r < rows; ++r) labelAt(labels, r, cols);
      double inv = 1.0 / rows;
      parallelRange(pool, rows, 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          int64_t label = labelAt(labels, r, cols);
          for (int64_t c = 0; c < cols; ++c) {
            double g = probs[r * cols + c] - (c == label ? 1.0 : 0.0);
            d[r * cols + c] = static_cast<float>(g * inv);
          }
        }
      });
      return;
    }
    case OpKind::Sgd: {
      float* p = P(0);
      const float* g = P(1);
      double lr = F[0], wd = F[1];
      parallelRange(pool, I[0], 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) p[j] = static_cast<float>(p[j] - lr * (g[j] + wd * p[j]));
      });
      return;
    }
    case OpKind::Adam: {
      float *p = P(0), *m = P(2), *v = P(3);
      const float* g = P(1);
      double lr = F[0], b1 = F[1], b2 = F[2], eps = F[3], wd = F[4];
      double t = static_cast<double>(I[1]);
      double c1 = 1.0 - std::pow(b1, t), c2 = 1.0 - std::pow(b2, t);
      parallelRange(pool, I[0], 1 << 13, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) {
          double gj = g[j] + wd * p[j];
          double mj = b1 * m[j] + (1.0 - b1) * gj;
          double vj = b2 * v[j] + (1.0 - b2) * gj * gj;
          m[j] = static_cast<float>(mj);
          v[j] = static_cast<float>(vj);
          p[j] = static_cast<float>(p[j] - lr * (mj / c1) / (std::sqrt(vj / c2) + eps));
        }
      });
      return;
    }
    case OpKind::ReduceRows: {
      const float* x = P(0);
      float* y = P(1);
      int64_t rows = I[0], cols = I[1];
      bool acc = I[2] != 0;
      parallelRange(pool, cols, 64, [&](int64_t b, int64_t e, int) {
        std::vector<double> s(static_cast<size_t>(e - b), 0.0);
        for (int64_t r = 0; r < rows; ++r) {
          const float* xr = x + r * cols;
          for (int64_t c = b; c < e; ++c) s[c - b] += xr[c];
        }
        for (int64_t c = b; c < e; ++c) y[c] = static_cast<float>(acc ? y[c] + s[c - b] : s[c - b]);
      });
      return;
    }
    case OpKind::Copy: {
      const float* src = P(0) + I[1];
      float* dst = P(1) + I[2];
      if (src == dst) return;
      parallelRange(pool, I[0], 1 << 16, [&](int64_t b, int64_t e, int) {
        std::memcpy(dst + b, src + b, static_cast<size_t>(e - b) * sizeof(float));
      });
      return;
    }
    case OpKind::Accumulate: {
      const float* src = P(0) + I[1];
      float* dst = P(1) + I[2];
      float alpha = static_cast<float>(F[0]);
      parallelRange(pool, I[0], 1 << 15, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dst[j] += alpha * src[j];
      });
      return;
    }
    case OpKind::Fill: {
      float* dst = P(0) + I[1];
      float value = static_cast<float>(F[0]);
      parallelRange(pool, I[0], 1 << 16, [&](int64_t b, int64_t e, int) {
        std::fill(dst + b, dst + e, value);
      });
      return;
    }
  }
  throw EngineError("E_BAD_OP", "unknown op kind");
}

}  // namespace mosaic
