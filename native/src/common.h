// Shared plain types for the Mosaic native engine. Nothing here touches N-API, so every
// type can be built on the JS thread and consumed on worker threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace mosaic {

// An error with a stable code ('E_BAD_OP', 'E_BUFFER_RANGE', ...). Converted to a JS Error
// whose `code` property is `code`.
class EngineError : public std::runtime_error {
 public:
  EngineError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// A float32 buffer owned by JS. Only the pointer and length cross to worker threads.
struct BufferView {
  float* data = nullptr;
  size_t length = 0;  // elements
};

enum class OpKind : int {
  Gemm,
  BiasAdd,
  Relu,
  ReluBackward,
  Gelu,
  GeluBackward,
  Softmax,
  SoftmaxBackward,
  Attention,
  AttentionBackward,
  LayerNorm,
  LayerNormBackward,
  MseLoss,
  MseLossBackward,
  SoftmaxCrossEntropy,
  SoftmaxCrossEntropyBackward,
  Sgd,
  Adam,
  ReduceRows,
  Copy,
  Accumulate,
  Fill,
};

constexpr int kMaxOpBuffers = 8;
constexpr int kMaxOpInts = 8;
constexpr int kMaxOpFloats = 8;

// One decoded op. Field meaning depends on `kind`; see kOpSchemas in cpu_ops.cc, which
// lists the field names in the order they are stored.
struct OpDesc {
  OpKind kind = OpKind::Fill;
  int buf[kMaxOpBuffers] = {-1, -1, -1, -1, -1, -1, -1, -1};
  int64_t i[kMaxOpInts] = {0, 0, 0, 0, 0, 0, 0, 0};
  double f[kMaxOpFloats] = {0, 0, 0, 0, 0, 0, 0, 0};
};

struct OpSchema {
  const char* name;
  OpKind kind;
  std::vector<const char*> buffers;
  std::vector<const char*> ints;
  std::vector<const char*> floats;
};

const std::vector<OpSchema>& opSchemas();
const OpSchema* findOpSchema(const std::string& name);
const OpSchema& schemaOf(OpKind kind);

}  // namespace mosaic
