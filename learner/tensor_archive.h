#pragma once

// A tensor archive: named CPU tensors in one file, each protected by a CRC-32, for optimizer
// state, RNG states and (until the model writes Hugging Face safetensors) model weights.
//
// Layout: the magic "MEMR1TA1", a little-endian uint64 header length, a JSON header
// {"tensors": [{"name", "dtype", "shape", "offset", "bytes", "crc32"}], "crc32": <of the
// header's tensor list>}, then the raw data. Reading checks the magic, the header, every size
// and every CRC, so a truncated or bit-flipped file is rejected (DataLoss) with the file and
// tensor named, never half-loaded.
//
// Thread safety: pure functions.

#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "common/file_util.h"

namespace memr1::learner {

// Writes `tensors` (any device; copied to CPU) to `path` and fsyncs it. The file appears whole
// or not at all (temporary file + rename).
absl::Status WriteTensorArchive(const std::string& path,
                                const std::map<std::string, at::Tensor>& tensors);

// Reads an archive written by WriteTensorArchive. NotFound when the file does not exist,
// DataLoss when it is corrupt.
absl::StatusOr<std::map<std::string, at::Tensor>> ReadTensorArchive(const std::string& path);

// The file helpers live in common/file_util.h; learner code names them unqualified.
using ::memr1::ReadFileToString;
using ::memr1::WriteFileAtomically;

}  // namespace memr1::learner
