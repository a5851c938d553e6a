#pragma once

// Helpers shared by the memstore suites: temp directories and request builders.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "memr1/v1/memstore.pb.h"

namespace memr1::memstore::testing {

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/memstore_test_XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline v1::Operation Add(const std::string& text, const std::string& speaker = "",
                         std::vector<float> embedding = {}) {
  v1::Operation op;
  op.set_event(v1::ADD);
  op.set_text(text);
  op.set_speaker(speaker);
  for (float v : embedding) op.add_embedding(v);
  return op;
}

inline v1::Operation Update(const std::string& id, const std::string& text) {
  v1::Operation op;
  op.set_event(v1::UPDATE);
  op.set_memory_id(id);
  op.set_text(text);
  return op;
}

inline v1::Operation Delete(const std::string& id) {
  v1::Operation op;
  op.set_event(v1::DELETE);
  op.set_memory_id(id);
  return op;
}

inline v1::Operation Noop(const std::string& id = "") {
  v1::Operation op;
  op.set_event(v1::NOOP);
  op.set_memory_id(id);
  return op;
}

inline v1::ApplyRequest Request(const std::string& bank, std::vector<v1::Operation> ops,
                                const std::string& request_id = "") {
  v1::ApplyRequest request;
  request.set_bank(bank);
  request.set_request_id(request_id);
  for (v1::Operation& op : ops) *request.add_ops() = std::move(op);
  return request;
}

}  // namespace memr1::memstore::testing
