#include "llm/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

namespace {

using Json = nlohmann::json;

// Headers above this are refused (the reference implementation's limit is 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeInfo {
  const char* name;
  c10::ScalarType type;
  int64_t size;
};

const DtypeInfo kDtypes[] = {
    {"F64", c10::ScalarType::Double, 8},   {"F32", c10::ScalarType::Float, 4},
    {"F16", c10::ScalarType::Half, 2},     {"BF16", c10::ScalarType::BFloat16, 2},
    {"I64", c10::ScalarType::Long, 8},     {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},    {"I8", c10::ScalarType::Char, 1},
    {"U8", c10::ScalarType::Byte, 1},      {"BOOL", c10::ScalarType::Bool, 1},
};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const DtypeInfo& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": invalid safetensors file: ", what));
}

absl::Status TensorError(const std::string& path, const std::string& name,
                         const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": tensor \"", name, "\": ", what));
}

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  const int err = errno;
  std::string message = absl::StrCat(path, ": ", what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

absl::Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd_ < 0) return ErrnoError("cannot open", path);
  struct stat st;
  if (::fstat(file->fd_, &st) != 0) return ErrnoError("stat", path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) return Corrupt(path, absl::StrCat("file is ", size, " bytes, shorter than the 8-byte header length"));
  file->map_size_ = size;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file->fd_, 0);
  if (map == MAP_FAILED) return ErrnoError("mmap", path);
  file->map_ = static_cast<const uint8_t*>(map);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file->map_[i];
  if (header_len > kMaxHeaderBytes) {
    return Corrupt(path, absl::StrCat("header length ", header_len, " exceeds ", kMaxHeaderBytes));
  }
  if (header_len > size - 8) {
    return Corrupt(path, absl::StrCat("header length ", header_len, " runs past the end of the ",
                                      size, "-byte file (truncated?)"));
  }
  file->data_start_ = 8 + header_len;
  const uint64_t data_size = size - file->data_start_;
  Json header = Json::parse(file->map_ + 8, file->map_ + 8 + header_len, nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return Corrupt(path, "header is not a JSON object");
  }
  std::vector<std::pair<uint64_t, std::string>> order;
  for (const auto& item : header.items()) {
    const std::string& name = item.key();
    const Json& value = item.value();
    if (name == "__metadata__") {
      if (!value.is_object()) return Corrupt(path, "__metadata__ is not an object");
      for (const auto& m : value.items()) {
        if (!m.value().is_string()) {
          return Corrupt(path, absl::StrCat("__metadata__ value \"", m.key(), "\" is not a string"));
        }
        file->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) return TensorError(path, name, "header entry is not an object");
    auto dtype_it = value.find("dtype");
    auto shape_it = value.find("shape");
    auto offsets_it = value.find("data_offsets");
    if (dtype_it == value.end() || !dtype_it->is_string()) {
      return TensorError(path, name, "missing or non-string \"dtype\"");
    }
    SafetensorsEntry entry;
    entry.dtype = dtype_it->get<std::string>();
    const DtypeInfo* dtype = FindDtype(entry.dtype);
    if (dtype == nullptr) return TensorError(path, name, absl::StrCat("unsupported dtype \"", entry.dtype, "\""));
    if (shape_it == value.end() || !shape_it->is_array()) {
      return TensorError(path, name, "missing or non-list \"shape\"");
    }
    uint64_t elements = 1;
    for (const Json& d : *shape_it) {
      if (!d.is_number_unsigned()) return TensorError(path, name, "shape holds a non-natural number");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && elements > (UINT64_MAX / 8) / dim) {
        return TensorError(path, name, "shape is too large");
      }
      elements *= dim;
      entry.shape.push_back(static_cast<int64_t>(dim));
    }
    if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
      return TensorError(path, name, "\"data_offsets\" must be two natural numbers");
    }
    entry.begin = (*offsets_it)[0].get<uint64_t>();
    entry.end = (*offsets_it)[1].get<uint64_t>();
    if (entry.begin > entry.end) {
      return TensorError(path, name, absl::StrCat("data_offsets [", entry.begin, ", ", entry.end, "] are reversed"));
    }
    if (entry.end > data_size) {
      return TensorError(path, name,
                         absl::StrCat("data_offsets end ", entry.end, " is past the ", data_size,
                                      "-byte data section (truncated file?)"));
    }
    const uint64_t expected = elements * static_cast<uint64_t>(dtype->size);
    if (entry.end - entry.begin != expected) {
      return TensorError(path, name,
                         absl::StrCat("byte range holds ", entry.end - entry.begin, " bytes but ",
                                      entry.dtype, " shape needs ", expected));
    }
    order.emplace_back(entry.begin, name);
    file->entries_.emplace(name, std::move(entry));
  }
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return file->entries_[a.second].end < file->entries_[b.second].end;
  });
  uint64_t previous_end = 0;
  std::string previous_name;
  for (const auto& [begin, name] : order) {
    const SafetensorsEntry& entry = file->entries_[name];
    if (entry.begin < previous_end && entry.end > entry.begin) {
      return TensorError(path, name, absl::StrCat("byte range overlaps tensor \"", previous_name, "\""));
    }
    if (entry.end > entry.begin) {
      previous_end = entry.end;
      previous_name = name;
    }
    file->names_.push_back(name);
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<SafetensorsEntry> SafetensorsFile::Entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return absl::NotFoundError(absl::StrCat(path_, ": no tensor \"", name, "\""));
  return it->second;
}

absl::StatusOr<at::Tensor> SafetensorsFile::LoadAsStored(const std::string& name,
                                                         c10::Device device) const {
  MEMR1_ASSIGN_OR_RETURN(SafetensorsEntry entry, Entry(name));
  return Load(name, device, FindDtype(entry.dtype)->type);
}

absl::StatusOr<at::Tensor> SafetensorsFile::Load(const std::string& name, c10::Device device,
                                                 c10::ScalarType dtype) const {
  MEMR1_ASSIGN_OR_RETURN(SafetensorsEntry entry, Entry(name));
  const DtypeInfo* info = FindDtype(entry.dtype);
  const uint8_t* data = map_ + data_start_ + entry.begin;
  const size_t bytes = entry.end - entry.begin;
  auto result = TorchCall(absl::StrCat(path_, ": loading tensor \"", name, "\""), [&]() {
    // Copy the bytes into owned, aligned memory first: offsets need not be aligned to the
    // element size, and the model must not alias a read-only mapping.
    at::Tensor stored = at::empty(entry.shape, at::TensorOptions().dtype(info->type));
    if (bytes > 0) std::memcpy(stored.data_ptr(), data, bytes);
    return stored.to(device, dtype);
  });
  if (bytes > 0) {
    // Drop the pages just copied from this process's resident set.
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    uintptr_t start = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
    uintptr_t stop = reinterpret_cast<uintptr_t>(data) + bytes;
    ::madvise(reinterpret_cast<void*>(start), stop - start, MADV_DONTNEED);
  }
  return result;
}

absl::StatusOr<std::string> SafetensorsDtypeName(c10::ScalarType dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.type == dtype) return std::string(d.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype ", c10::toString(dtype), " cannot be stored in safetensors"));
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> host;
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__" || !seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": duplicate or reserved tensor name \"", name, "\""));
    }
    MEMR1_ASSIGN_OR_RETURN(std::string dtype, SafetensorsDtypeName(tensor.scalar_type()));
    MEMR1_ASSIGN_OR_RETURN(
        at::Tensor cpu, TorchCall("copying a tensor to the CPU for saving", [&]() {
          return tensor.detach().to(at::kCPU).contiguous();
        }));
    const uint64_t bytes = static_cast<uint64_t>(cpu.numel()) * cpu.element_size();
    header[name] = {{"dtype", dtype},
                    {"shape", cpu.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    host.push_back(std::move(cpu));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(header_len >> (8 * i));

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  absl::Status status = WriteAll(fd, len_bytes, 8, tmp);
  if (status.ok()) status = WriteAll(fd, text.data(), text.size(), tmp);
  for (size_t i = 0; status.ok() && i < host.size(); ++i) {
    status = WriteAll(fd, host[i].data_ptr(),
                      static_cast<size_t>(host[i].numel()) * host[i].element_size(), tmp);
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("fsync", tmp);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("close", tmp);
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) status = ErrnoError("rename to " + path, tmp);
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::Open(
    const std::string& dir) {
  auto checkpoint = std::make_unique<SafetensorsCheckpoint>();
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::ifstream index_in(index_path);
  if (index_in.good()) {
    std::stringstream text;
    text << index_in.rdbuf();
    Json index = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
        !index["weight_map"].is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": not a JSON object with a \"weight_map\" object"));
    }
    std::map<std::string, const SafetensorsFile*> by_file;
    for (const auto& item : index["weight_map"].items()) {
      if (!item.value().is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": weight_map entry \"", item.key(), "\" is not a file name"));
      }
      const std::string shard = item.value().get<std::string>();
      if (shard.find('/') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(index_path, ": shard \"", shard, "\" is not a file in ", dir));
      }
      auto it = by_file.find(shard);
      if (it == by_file.end()) {
        MEMR1_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(dir + "/" + shard));
        it = by_file.emplace(shard, file.get()).first;
        checkpoint->files_.push_back(std::move(file));
      }
      if (!it->second->Contains(item.key())) {
        return absl::InvalidArgumentError(absl::StrCat(
            index_path, ": tensor \"", item.key(), "\" is not in its shard ", shard));
      }
      checkpoint->owner_[item.key()] = it->second;
    }
    return checkpoint;
  }
  const std::string single = dir + "/model.safetensors";
  MEMR1_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single));
  for (const std::string& name : file->names()) checkpoint->owner_[name] = file.get();
  checkpoint->files_.push_back(std::move(file));
  return checkpoint;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> names;
  for (const auto& [name, file] : owner_) names.push_back(name);
  return names;
}

absl::StatusOr<SafetensorsEntry> SafetensorsCheckpoint::Entry(const std::string& name) const {
  auto it = owner_.find(name);
  if (it == owner_.end()) return absl::NotFoundError(absl::StrCat("checkpoint has no tensor \"", name, "\""));
  return it->second->Entry(name);
}

absl::StatusOr<at::Tensor> SafetensorsCheckpoint::Load(const std::string& name, c10::Device device,
                                                       c10::ScalarType dtype) const {
  auto it = owner_.find(name);
  if (it == owner_.end()) return absl::NotFoundError(absl::StrCat("checkpoint has no tensor \"", name, "\""));
  return it->second->Load(name, device, dtype);
}

absl::Status WriteSafetensorsCheckpoint(
    const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    uint64_t max_shard_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  uint64_t total = 0;
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> shards(1);
  uint64_t shard_bytes = 0;
  for (const auto& item : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(item.second.numel()) * item.second.element_size();
    if (max_shard_bytes > 0 && shard_bytes > 0 && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(item);
    shard_bytes += bytes;
    total += bytes;
  }
  // Remove a previous checkpoint's files first so that a directory never mixes two layouts.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file == "model.safetensors.index.json" ||
        (file.rfind("model", 0) == 0 && entry.path().extension() == ".safetensors")) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  if (shards.size() == 1) {
    return WriteSafetensors(dir + "/model.safetensors", shards[0]);
  }
  Json weight_map = Json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name =
        absl::StrFormat("model-%05d-of-%05d.safetensors", i + 1, shards.size());
    MEMR1_RETURN_IF_ERROR(WriteSafetensors(dir + "/" + name, shards[i]));
    for (const auto& item : shards[i]) weight_map[item.first] = name;
  }
  Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::ofstream out(index_path + ".tmp", std::ios::binary | std::ios::trunc);
  out << index.dump(2) << "\n";
  out.close();
  if (!out || std::rename((index_path + ".tmp").c_str(), index_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(index_path, ": cannot write"));
  }
  return absl::OkStatus();
}

}  // namespace memr1::llm
