#include "llm/safetensors_buffer.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"
#include "llm/decoder.h"
#include "nlohmann/json.hpp"

namespace memr1::llm {
namespace {

using Json = nlohmann::json;

absl::Status WriteFileBytes(const std::string& path, absl::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": write failed: ", std::strerror(error)));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    return absl::InternalError(absl::StrCat(path, ": close failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

void ReserveLargeBuffer(std::string* buffer, size_t capacity) {
  buffer->reserve(capacity);
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  if (capacity < 4 * kHugePage) return;
  // The whole huge pages inside the allocation; the advice only affects pages not yet touched.
  const uintptr_t begin = reinterpret_cast<uintptr_t>(buffer->data());
  const uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = (begin + capacity) & ~(kHugePage - 1);
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
}

absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    std::optional<c10::ScalarType> dtype, const std::map<std::string, std::string>& metadata) {
  // The header needs only names, dtypes and shapes, so it is built before any data is copied;
  // its layout follows WriteSafetensors exactly (same JSON, same padding).
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors bytes: duplicate or reserved tensor name \"", name, "\""));
    }
    const c10::ScalarType stored = dtype.value_or(tensor.scalar_type());
    MEMR1_ASSIGN_OR_RETURN(std::string dtype_name, SafetensorsDtypeName(stored));
    const uint64_t bytes =
        static_cast<uint64_t>(tensor.numel()) * c10::elementSize(stored);
    header[name] = {{"dtype", dtype_name},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();

  std::string out;
  ReserveLargeBuffer(&out, 8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header_len >> (8 * i)) & 0xff));
  out.append(text);
  for (const auto& [name, tensor] : tensors) {
    MEMR1_ASSIGN_OR_RETURN(
        at::Tensor host, TorchCall(absl::StrCat("copying \"", name, "\" to the CPU"), [&]() {
          at::Tensor cpu = tensor.detach().to(at::kCPU, dtype.value_or(tensor.scalar_type()));
          return cpu.contiguous();
        }));
    out.append(static_cast<const char*>(host.data_ptr()),
               static_cast<size_t>(host.numel()) * host.element_size());
  }
  return out;
}

absl::StatusOr<std::string> SerializeCausalLMWeights(const CausalLM& model,
                                                     std::optional<c10::ScalarType> dtype) {
  return SerializeSafetensors(model.NamedParameters(), dtype.value_or(model.dtype()));
}

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> OpenSafetensorsBytes(
    absl::string_view bytes, const std::string& scratch_dir) {
  std::error_code ec;
  const std::string base =
      scratch_dir.empty() ? std::filesystem::temp_directory_path(ec).string() : scratch_dir;
  if (ec) return absl::InternalError(absl::StrCat("no temporary directory: ", ec.message()));
  std::string pattern = base + "/memr1-weights-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat(base, ": cannot create a scratch directory: ", std::strerror(errno)));
  }
  const std::string dir = pattern;
  absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> checkpoint;
  const absl::Status written = WriteFileBytes(dir + "/model.safetensors", bytes);
  if (written.ok()) {
    checkpoint = SafetensorsCheckpoint::Open(dir);
  } else {
    checkpoint = written;
  }
  std::filesystem::remove_all(dir, ec);  // the mapping outlives the file
  if (!checkpoint.ok()) {
    return Annotate(checkpoint.status(), "safetensors bytes");
  }
  return checkpoint;
}

}  // namespace memr1::llm
