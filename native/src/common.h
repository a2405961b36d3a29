// Shared plain types for the Mosaic native engine (the op types are generated: ops_generated.h).
// Nothing here touches N-API, so every type can be built on the JS thread and consumed on worker threads.
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

}  // namespace mosaic
