#include "learner/tensor_archive.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::learner {

namespace {

constexpr char kMagic[] = "MEMR1TA1";
constexpr size_t kMagicSize = 8;

uint32_t Crc32(const void* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = static_cast<const Bytef*>(data);
  // zlib takes uInt lengths; feed large buffers in pieces.
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

absl::StatusOr<at::ScalarType> ParseDtype(const std::string& name) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"bfloat16", at::kBFloat16},
      {"float16", at::kHalf},  {"int64", at::kLong},     {"int32", at::kInt},
      {"uint8", at::kByte},    {"int8", at::kChar},      {"bool", at::kBool}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) return absl::InvalidArgumentError(absl::StrCat("unknown dtype ", name));
  return it->second;
}

std::string DtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kBool: return "bool";
    default: return "";
  }
}

}  // namespace

absl::Status WriteTensorArchive(const std::string& path,
                                const std::map<std::string, at::Tensor>& tensors) {
  std::vector<at::Tensor> cpu;
  nlohmann::json list = nlohmann::json::array();
  uint64_t offset = 0;
  MEMR1_RETURN_IF_ERROR(TorchCall("tensor archive", [&]() -> absl::Status {
    for (const auto& [name, tensor] : tensors) {
      const std::string dtype = DtypeName(tensor.scalar_type());
      if (dtype.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("tensor ", name, ": unsupported dtype"));
      }
      at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
      const size_t bytes = t.numel() * t.element_size();
      list.push_back({{"name", name},
                      {"dtype", dtype},
                      {"shape", t.sizes().vec()},
                      {"offset", offset},
                      {"bytes", bytes},
                      {"crc32", Crc32(t.data_ptr(), bytes)}});
      offset += bytes;
      cpu.push_back(std::move(t));
    }
    return absl::OkStatus();
  }));
  const std::string list_text = list.dump();
  nlohmann::json header = {{"tensors", list},
                           {"crc32", Crc32(list_text.data(), list_text.size())}};
  const std::string header_text = header.dump();
  const uint64_t header_size = header_text.size();
  std::vector<std::pair<const void*, size_t>> pieces = {
      {kMagic, kMagicSize}, {&header_size, sizeof(header_size)},
      {header_text.data(), header_text.size()}};
  for (const auto& t : cpu) pieces.push_back({t.data_ptr(), t.numel() * t.element_size()});
  return WritePiecesAtomically(path, pieces);
}

absl::StatusOr<std::map<std::string, at::Tensor>> ReadTensorArchive(const std::string& path) {
  MEMR1_ASSIGN_OR_RETURN(const std::string data, ReadFileToString(path));
  auto corrupt = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("corrupt tensor archive ", path, ": ", why));
  };
  if (data.size() < kMagicSize + 8 || data.compare(0, kMagicSize, kMagic) != 0) {
    return corrupt("bad magic (not a memr1 tensor archive, or truncated)");
  }
  uint64_t header_size = 0;
  std::memcpy(&header_size, data.data() + kMagicSize, sizeof(header_size));
  const uint64_t data_start = kMagicSize + 8 + header_size;
  if (header_size > data.size() || data_start > data.size()) return corrupt("header truncated");
  nlohmann::json header = nlohmann::json::parse(data.begin() + kMagicSize + 8,
                                                data.begin() + data_start, nullptr, false);
  if (header.is_discarded() || !header.is_object() || !header.contains("tensors") ||
      !header["tensors"].is_array()) {
    return corrupt("header is not valid JSON");
  }
  const std::string list_text = header["tensors"].dump();
  if (header.value("crc32", uint64_t{0}) != Crc32(list_text.data(), list_text.size())) {
    return corrupt("header checksum mismatch");
  }
  std::map<std::string, at::Tensor> out;
  for (const auto& entry : header["tensors"]) {
    const std::string name = entry.value("name", "");
    const uint64_t offset = entry.value("offset", uint64_t{0});
    const uint64_t bytes = entry.value("bytes", uint64_t{0});
    if (offset + bytes > data.size() - data_start) {
      return corrupt(absl::StrCat("tensor '", name, "' extends past the end (truncated file)"));
    }
    const char* p = data.data() + data_start + offset;
    if (Crc32(p, bytes) != entry.value("crc32", uint64_t{0})) {
      return corrupt(absl::StrCat("tensor '", name, "' checksum mismatch"));
    }
    auto dtype = ParseDtype(entry.value("dtype", ""));
    if (!dtype.ok()) return corrupt(absl::StrCat("tensor '", name, "': ", dtype.status().message()));
    const std::vector<int64_t> shape = entry.value("shape", std::vector<int64_t>{});
    MEMR1_RETURN_IF_ERROR(TorchCall("tensor archive read", [&]() -> absl::Status {
      at::Tensor t = at::empty(shape, at::TensorOptions().dtype(*dtype));
      if (static_cast<uint64_t>(t.numel() * t.element_size()) != bytes) {
        return corrupt(absl::StrCat("tensor '", name, "' size does not match its shape"));
      }
      std::memcpy(t.data_ptr(), p, bytes);
      out.emplace(name, std::move(t));
      return absl::OkStatus();
    }));
  }
  return out;
}

}  // namespace memr1::learner
