#pragma once

// safetensors files (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {..}}, then the tensor bytes. Files are memory-mapped for reading; every header entry is
// validated before any tensor is handed out (offsets inside the file, no two ranges overlapping,
// a known dtype, shape x element size equal to the byte range), so a truncated or corrupt file is
// an error naming the file and the tensor, never a crash.
//
// A checkpoint directory holds either `model.safetensors` or shards listed in
// `model.safetensors.index.json` ({"metadata": {"total_size": N}, "weight_map": {name: file}}),
// as transformers writes them.
//
// Thread safety: a SafetensorsFile / SafetensorsCheckpoint is immutable after Open and may be
// read from several threads.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1::llm {

struct SafetensorsEntry {
  std::string dtype;           // as on disk: "F32", "BF16", "F16", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0;          // byte range inside the data section
  uint64_t end = 0;
};

// One memory-mapped .safetensors file.
class SafetensorsFile {
 public:
  // Maps `path` and validates its header. InvalidArgument (naming file and tensor) on any
  // inconsistency, NotFound if the file cannot be opened.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensor names in file order (ascending data offset).
  const std::vector<std::string>& names() const { return names_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool Contains(const std::string& name) const { return entries_.count(name) > 0; }
  absl::StatusOr<SafetensorsEntry> Entry(const std::string& name) const;

  // Copies tensor `name` into a new tensor on `device` with `dtype` (converting from the dtype
  // on disk). The result owns its memory; the mapping's pages for this tensor are released
  // afterwards (MADV_DONTNEED), so loading a model one tensor at a time keeps resident memory
  // near one copy of the model.
  absl::StatusOr<at::Tensor> Load(const std::string& name, c10::Device device,
                                  c10::ScalarType dtype) const;
  // As Load, in the dtype on disk.
  absl::StatusOr<at::Tensor> LoadAsStored(const std::string& name, c10::Device device) const;

 private:
  SafetensorsFile() = default;

  std::string path_;
  int fd_ = -1;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  size_t data_start_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// The safetensors dtype name of a torch dtype ("F32", "BF16", ...); InvalidArgument for dtypes
// safetensors cannot hold.
absl::StatusOr<std::string> SafetensorsDtypeName(c10::ScalarType dtype);

// Writes `tensors` (CPU or not; contiguous copies are made as needed) to `path` in the given
// order, with `metadata` as "__metadata__". The header is padded with spaces to a multiple of 8
// bytes. The file is written to `path`.tmp and renamed, so a failed write leaves nothing behind.
// Output is a function of the inputs only (byte-identical for identical tensors).
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata = {
                                  {"format", "pt"}});

// All tensors of a checkpoint directory: `model.safetensors`, or the shards named by
// `model.safetensors.index.json` (every name in the index must be in its shard).
class SafetensorsCheckpoint {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> Open(const std::string& dir);

  std::vector<std::string> names() const;
  bool Contains(const std::string& name) const { return owner_.count(name) > 0; }
  absl::StatusOr<SafetensorsEntry> Entry(const std::string& name) const;
  absl::StatusOr<at::Tensor> Load(const std::string& name, c10::Device device,
                                  c10::ScalarType dtype) const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> owner_;
};

// Writes `tensors` into `dir` as transformers does: one `model.safetensors` when the total is at
// most `max_shard_bytes` (0 = never shard), otherwise `model-0000i-of-0000n.safetensors` shards
// (tensors kept whole, in order) plus `model.safetensors.index.json`.
absl::Status WriteSafetensorsCheckpoint(
    const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    uint64_t max_shard_bytes = 0);

}  // namespace memr1::llm
