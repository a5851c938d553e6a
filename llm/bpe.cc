#include "llm/bpe.h"

#include <queue>

#include <nlohmann/json.hpp>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "llm/unicode.h"

namespace memr1::llm {

namespace {

const std::string& EmptyString() {
  static const std::string* const empty = new std::string;
  return *empty;
}

// The bytes a byte-level token stands for; the raw text when a character is outside the
// byte alphabet (as HF's ByteLevel decoder does).
std::string ByteLevelDecode(std::string_view token) {
  std::string bytes;
  size_t pos = 0;
  while (pos < token.size()) {
    const int byte = CodePointToByte(NextCodePoint(token, &pos));
    if (byte < 0) return std::string(token);
    bytes.push_back(static_cast<char>(byte));
  }
  return bytes;
}

}  // namespace

BpeModel::~BpeModel() = default;

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const nlohmann::json& model) {
  if (!model.is_object()) return absl::InvalidArgumentError("model: expected an object");
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") {
    return absl::UnimplementedError(absl::StrCat("model type '", type, "' is not supported"));
  }
  const auto nonempty = [&](const char* key) {
    return model.contains(key) && !model.at(key).is_null() &&
           !(model.at(key).is_string() && model.at(key).get<std::string>().empty()) &&
           !(model.at(key).is_boolean() && !model.at(key).get<bool>());
  };
  for (const char* key : {"dropout", "unk_token", "continuing_subword_prefix",
                          "end_of_word_suffix", "byte_fallback"}) {
    if (nonempty(key)) {
      return absl::UnimplementedError(absl::StrCat("model: BPE option '", key, "' is not supported"));
    }
  }
  if (model.value("fuse_unk", false)) {
    return absl::UnimplementedError("model: BPE option 'fuse_unk' is not supported");
  }
  std::unique_ptr<BpeModel> result(new BpeModel());
  result->ignore_merges_ = model.value("ignore_merges", false);
  const nlohmann::json& vocab = model.at("vocab");
  if (!vocab.is_object()) return absl::InvalidArgumentError("model.vocab: expected an object");
  int32_t max_id = -1;
  result->token_to_id_.reserve(vocab.size());
  for (const auto& [token, id_json] : vocab.items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 ||
        id_json.get<int64_t>() > (1 << 30)) {
      return absl::InvalidArgumentError(absl::StrCat("model.vocab: bad id for token '", token, "'"));
    }
    const int32_t id = id_json.get<int32_t>();
    result->token_to_id_.emplace(token, id);
    max_id = std::max(max_id, id);
  }
  result->id_to_token_.resize(max_id + 1);
  for (const auto& [token, id] : result->token_to_id_) {
    if (!result->id_to_token_[id].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("model.vocab: id ", id, " is used twice"));
    }
    result->id_to_token_[id] = token;
  }
  std::vector<std::pair<std::string, std::string>> merges;
  const nlohmann::json& merges_json = model.at("merges");
  merges.reserve(merges_json.size());
  for (size_t i = 0; i < merges_json.size(); ++i) {
    const nlohmann::json& merge = merges_json[i];
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("model.merges[", i, "]: expected \"a b\", got '", text, "'"));
      }
      merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat("model.merges[", i, "]: malformed"));
    }
  }
  MEMR1_RETURN_IF_ERROR(result->Init(merges));
  return result;
}

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    std::vector<std::string> id_to_token,
    const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges) {
  std::unique_ptr<BpeModel> result(new BpeModel());
  result->ignore_merges_ = ignore_merges;
  result->id_to_token_ = std::move(id_to_token);
  for (size_t id = 0; id < result->id_to_token_.size(); ++id) {
    if (!result->token_to_id_.emplace(result->id_to_token_[id], id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocabulary: token '", result->id_to_token_[id], "' appears twice"));
    }
  }
  MEMR1_RETURN_IF_ERROR(result->Init(merges));
  return result;
}

absl::Status BpeModel::Init(const std::vector<std::pair<std::string, std::string>>& merges) {
  for (int b = 0; b < 256; ++b) {
    const auto it = token_to_id_.find(ByteToUtf8()[b]);
    if (it == token_to_id_.end()) {
      return absl::UnimplementedError(absl::StrCat(
          "model: vocabulary lacks the byte-level token for byte ", b,
          "; only byte-level BPE vocabularies are supported"));
    }
    byte_ids_[b] = it->second;
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto a = token_to_id_.find(left);
    const auto b = token_to_id_.find(right);
    const auto merged = token_to_id_.find(left + right);
    if (a == token_to_id_.end() || b == token_to_id_.end() || merged == token_to_id_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("model.merges[", rank, "]: '", left, " ",
                                                     right, "' uses a token not in the vocab"));
    }
    // The first (best-ranked) occurrence of a pair wins, as in HF.
    merges_.try_emplace(PairKey(a->second, b->second),
                        Merge{static_cast<int32_t>(rank), merged->second});
  }
  id_to_bytes_.resize(id_to_token_.size());
  for (size_t id = 0; id < id_to_token_.size(); ++id) {
    id_to_bytes_[id] = ByteLevelDecode(id_to_token_[id]);
  }
  return absl::OkStatus();
}

std::optional<int32_t> BpeModel::TokenToId(std::string_view token) const {
  const auto it = token_to_id_.find(ToAbsl(token));
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string& BpeModel::IdToToken(int32_t id) const {
  if (id < 0 || id >= size()) return EmptyString();
  return id_to_token_[id];
}

const std::string& BpeModel::TokenBytes(int32_t id) const {
  if (id < 0 || id >= size()) return EmptyString();
  return id_to_bytes_[id];
}

size_t BpeModel::cache_entries() const {
  size_t total = 0;
  for (const CacheShard& shard : cache_) {
    absl::ReaderMutexLock lock(&shard.mu);
    total += shard.map.size();
  }
  return total;
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (word.size() == 1) {
    ids->push_back(byte_ids_[static_cast<unsigned char>(word[0])]);
    return;
  }
  CacheShard* shard = nullptr;
  if (word.size() <= kMaxCachedWordBytes) {
    shard = &cache_[absl::Hash<absl::string_view>()(ToAbsl(word)) % kCacheShards];
    absl::ReaderMutexLock lock(&shard->mu);
    const auto it = shard->map.find(ToAbsl(word));
    if (it != shard->map.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids->size();
  if (ignore_merges_) {
    std::string mapped;
    mapped.reserve(word.size() * 2);
    for (const char c : word) mapped += ByteToUtf8()[static_cast<unsigned char>(c)];
    const auto it = token_to_id_.find(mapped);
    if (it != token_to_id_.end()) {
      ids->push_back(it->second);
    } else {
      MergeWord(word, ids);
    }
  } else {
    MergeWord(word, ids);
  }
  if (shard != nullptr) {
    absl::MutexLock lock(&shard->mu);
    if (shard->map.size() < kCacheEntriesPerShard) {
      shard->map.try_emplace(std::string(word), ids->begin() + first, ids->end());
    }
  }
}

// The HF merge loop: repeatedly merge the adjacent pair with the lowest rank (leftmost on
// ties). Symbols form a doubly linked list over the word; a min-heap holds candidate pairs,
// and entries made stale by earlier merges are skipped when popped.
void BpeModel::MergeWord(std::string_view word, std::vector<int32_t>* ids) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  const int32_t n = static_cast<int32_t>(word.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = Symbol{byte_ids_[static_cast<unsigned char>(word[i])], i - 1,
                        i + 1 < n ? i + 1 : -1, true};
  }
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto push_pair = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    const auto it = merges_.find(PairKey(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) queue.push(Candidate{it->second.rank, pos, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    const auto it = merges_.find(PairKey(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    Symbol& right = symbols[left.next];
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) ids->push_back(symbols[i].id);
}

}  // namespace memr1::llm
