// An in-memory KV backend: contents live as long as the process (initial
// contents from config). For tests and devices without a U-Boot environment.
#pragma once

#include "myelin/runtime/kv/kv_backend.hpp"

namespace myelin::runtime {

class memory_kv_backend : public kv_backend {
 public:
  explicit memory_kv_backend(kv_map initial = {}) : values_(std::move(initial)) {}

  caf::expected<kv_map> read() override { return values_; }

  caf::error write(const kv_changes& changes) override;

  std::string describe() const override { return "memory"; }

 private:
  kv_map values_;
};

}  // namespace myelin::runtime
