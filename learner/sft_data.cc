#include "learner/sft_data.h"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/jsonl.h"
#include "common/status_macros.h"

namespace memr1::learner {

absl::StatusOr<std::vector<TextDocument>> ReadTextJsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open text file ", path));
  std::vector<TextDocument> out;
  MEMR1_RETURN_IF_ERROR(ForEachJsonLine(
      in, path, [&](const std::string& line, const std::string& where) -> absl::Status {
        const nlohmann::json json =
            nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (json.is_discarded() || !json.is_object()) {
          return absl::InvalidArgumentError("not a JSON object (expected {\"text\": \"...\"})");
        }
        const auto text = json.find("text");
        if (text == json.end() || !text->is_string()) {
          return absl::InvalidArgumentError("needs \"text\": \"...\" (a string)");
        }
        if (text->get_ref<const std::string&>().empty()) {
          return absl::InvalidArgumentError("\"text\" is empty");
        }
        out.push_back({text->get<std::string>(), where});
        return absl::OkStatus();
      }));
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no documents"));
  return out;
}

absl::StatusOr<std::vector<v1::Trajectory>> PackDocuments(
    const std::vector<std::vector<int32_t>>& documents, const PackOptions& options) {
  if (options.max_tokens < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence length ", options.max_tokens, " is below 2 (a 1-token prompt and a response)"));
  }
  if (options.eos_id < 0) {
    return absl::InvalidArgumentError("packing text needs an eos token to separate documents");
  }
  if (documents.empty()) return absl::InvalidArgumentError("no documents to pack");
  std::vector<int32_t> stream;
  if (options.bos_id < 0) stream.push_back(options.eos_id);
  for (const auto& document : documents) {
    if (options.bos_id >= 0) stream.push_back(options.bos_id);
    stream.insert(stream.end(), document.begin(), document.end());
    stream.push_back(options.eos_id);
  }
  std::vector<v1::Trajectory> out;
  const int64_t total = static_cast<int64_t>(stream.size());
  const int64_t stride = options.max_tokens - 1;
  for (int64_t start = 0; start + 1 < total; start += stride) {
    const int64_t end = std::min(total, start + options.max_tokens);
    v1::Trajectory t;
    t.set_id(absl::StrCat("text-", out.size()));
    t.add_prompt_ids(stream[start]);
    for (int64_t i = start + 1; i < end; ++i) t.add_response_ids(stream[i]);
    out.push_back(std::move(t));
  }
  return out;
}

EpochOrder::EpochOrder(int64_t size, uint64_t seed, bool shuffle)
    : size_(size), seed_(seed), shuffle_(shuffle) {}

int64_t EpochOrder::Index(int64_t position) {
  const int64_t epoch = position / size_;
  const int64_t offset = position % size_;
  if (!shuffle_) return offset;
  if (epoch != cached_epoch_) {
    permutation_.resize(size_);
    std::iota(permutation_.begin(), permutation_.end(), int64_t{0});
    std::seed_seq seeds{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32),
                        static_cast<uint32_t>(epoch), static_cast<uint32_t>(epoch >> 32)};
    std::mt19937_64 generator(seeds);
    for (int64_t i = size_ - 1; i > 0; --i) {
      // Modulo has a bias of at most size/2^64: nothing next to a fixed, portable order.
      const int64_t j = static_cast<int64_t>(generator() % static_cast<uint64_t>(i + 1));
      std::swap(permutation_[i], permutation_[j]);
    }
    cached_epoch_ = epoch;
  }
  return permutation_[offset];
}

}  // namespace memr1::learner
