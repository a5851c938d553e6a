#include "llm/bpe_trainer.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <queue>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "llm/chat_template.h"
#include "llm/normalizer.h"
#include "llm/pretokenizer.h"
#include "llm/tokenizer_added_tokens.h"
#include "llm/unicode.h"

namespace memr1::llm {

namespace {

// Qwen-2.5's pre-tokenizer regex (single digits, case-insensitive contractions).
constexpr char kQwenSplitPattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

nlohmann::json ByteLevelJson() {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", false},
          {"use_regex", false}};
}

nlohmann::json NormalizerJson() { return {{"type", "NFC"}}; }

nlohmann::json PreTokenizerJson() {
  nlohmann::json split = {{"type", "Split"},
                          {"pattern", {{"Regex", kQwenSplitPattern}}},
                          {"behavior", "Isolated"},
                          {"invert", false}};
  return {{"type", "Sequence"}, {"pretokenizers", nlohmann::json::array({split, ByteLevelJson()})}};
}

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Word {
  std::vector<int32_t> symbols;
  int64_t count = 0;
};

// Counts the pre-tokenized words of every text.
absl::StatusOr<std::vector<Word>> CountWords(absl::Span<const std::string> texts,
                                             const BpeTrainerOptions& options) {
  MEMR1_ASSIGN_OR_RETURN(auto normalizer, Normalizer::FromJson(NormalizerJson()));
  MEMR1_ASSIGN_OR_RETURN(auto pre_tokenizer, PreTokenizer::FromJson(PreTokenizerJson()));
  std::vector<AddedToken> specials;
  for (const std::string& token : options.special_tokens) {
    AddedToken added;
    added.id = 0;
    added.content = token;
    specials.push_back(added);
  }
  const AddedTokenMatcher matcher(specials, /*for_normalized_text=*/false);
  absl::flat_hash_map<std::string, int64_t> counts;
  std::vector<AddedTokenMatcher::Segment> segments;
  std::deque<std::string> arena;
  std::vector<std::string_view> words;
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::Status valid = ValidateUtf8(texts[i]);
    if (!valid.ok()) return Annotate(valid, absl::StrCat("training text ", i));
    segments.clear();
    matcher.Split(texts[i], &segments);
    for (const auto& segment : segments) {
      if (segment.id >= 0) continue;
      MEMR1_ASSIGN_OR_RETURN(const std::string normalized, normalizer->Apply(segment.text));
      words.clear();
      arena.clear();
      MEMR1_RETURN_IF_ERROR(pre_tokenizer->Split(normalized, &arena, &words));
      for (const std::string_view word : words) ++counts[ToAbsl(word)];
    }
  }
  std::vector<Word> result;
  result.reserve(counts.size());
  for (const auto& [text, count] : counts) {
    Word word;
    word.count = count;
    for (const char c : text) word.symbols.push_back(static_cast<unsigned char>(c));
    result.push_back(std::move(word));
  }
  // Hash-map order is not stable across runs; sort so ties and ids are deterministic.
  std::sort(result.begin(), result.end(),
            [](const Word& a, const Word& b) { return a.symbols < b.symbols; });
  return result;
}

}  // namespace

absl::Status BpeTrainerOptions::Validate() const {
  const int64_t minimum = 256 + static_cast<int64_t>(special_tokens.size());
  if (vocab_size < minimum) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab_size ", vocab_size, " is below ", minimum, " (256 byte tokens + ",
        special_tokens.size(), " special tokens)"));
  }
  if (min_frequency < 1) return absl::InvalidArgumentError("min_frequency must be >= 1");
  if (special_tokens.empty()) {
    return absl::InvalidArgumentError("special_tokens must name at least the eos token");
  }
  absl::flat_hash_set<std::string> seen;
  for (const std::string& token : special_tokens) {
    if (token.empty() || !seen.insert(token).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token '", token, "' is empty or repeated"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainedTokenizer> TrainBpe(absl::Span<const std::string> texts,
                                          const BpeTrainerOptions& options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  MEMR1_ASSIGN_OR_RETURN(std::vector<Word> words, CountWords(texts, options));

  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(ByteToUtf8()[b]);
  absl::flat_hash_map<std::string, int32_t> token_ids;
  for (int32_t id = 0; id < 256; ++id) token_ids[tokens[id]] = id;

  absl::flat_hash_map<uint64_t, int64_t> pair_counts;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<int32_t>> pair_words;
  for (int32_t w = 0; w < static_cast<int32_t>(words.size()); ++w) {
    const auto& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      pair_counts[PairKey(s[i], s[i + 1])] += words[w].count;
      pair_words[PairKey(s[i], s[i + 1])].insert(w);
    }
  }
  // Max-heap on (count, smaller pair first).
  using Entry = std::pair<int64_t, uint64_t>;
  const auto worse = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (const auto& [pair, count] : pair_counts) heap.push({count, pair});

  const int32_t max_merges =
      options.vocab_size - 256 - static_cast<int32_t>(options.special_tokens.size());
  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int32_t>(tokens.size()) - 256 < max_merges && !heap.empty()) {
    const auto [count, pair] = heap.top();
    heap.pop();
    const auto current = pair_counts.find(pair);
    const int64_t actual = current == pair_counts.end() ? 0 : current->second;
    if (actual != count) {
      if (actual > 0) heap.push({actual, pair});
      continue;
    }
    if (count < options.min_frequency) break;
    const int32_t a = static_cast<int32_t>(pair >> 32);
    const int32_t b = static_cast<int32_t>(pair & 0xFFFFFFFFu);
    std::string merged = tokens[a] + tokens[b];
    // Two different pairs can spell the same string ("ab"+"c", "a"+"bc"); like HF, the second
    // becomes another merge into the existing token.
    auto [it, inserted] = token_ids.try_emplace(merged, static_cast<int32_t>(tokens.size()));
    const int32_t new_id = it->second;
    if (inserted) tokens.push_back(merged);
    merges.emplace_back(tokens[a], tokens[b]);
    absl::flat_hash_set<uint64_t> touched;
    const absl::flat_hash_set<int32_t> affected = std::move(pair_words[pair]);
    pair_words.erase(pair);
    for (const int32_t w : affected) {
      Word& word = words[w];
      auto& s = word.symbols;
      for (size_t i = 0; i + 1 < s.size(); ++i) pair_counts[PairKey(s[i], s[i + 1])] -= word.count;
      std::vector<int32_t> next;
      next.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          next.push_back(new_id);
          ++i;
        } else {
          next.push_back(s[i]);
        }
      }
      s.swap(next);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t key = PairKey(s[i], s[i + 1]);
        pair_counts[key] += word.count;
        pair_words[key].insert(w);
        if (s[i] == new_id || s[i + 1] == new_id) touched.insert(key);
      }
    }
    pair_counts.erase(pair);
    for (const uint64_t key : touched) heap.push({pair_counts[key], key});
  }

  TrainedTokenizer trained;
  trained.num_merges = static_cast<int32_t>(merges.size());
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t id = 0; id < tokens.size(); ++id) vocab[tokens[id]] = id;
  nlohmann::json merges_json = nlohmann::json::array();
  for (const auto& [left, right] : merges) merges_json.push_back(left + " " + right);
  nlohmann::json added = nlohmann::json::array();
  nlohmann::json added_decoder = nlohmann::json::object();
  int32_t next_id = static_cast<int32_t>(tokens.size());
  for (const std::string& token : options.special_tokens) {
    const nlohmann::json entry = {{"id", next_id},       {"content", token},
                                  {"single_word", false}, {"lstrip", false},
                                  {"rstrip", false},      {"normalized", false},
                                  {"special", true}};
    added.push_back(entry);
    nlohmann::json decoder_entry = entry;
    decoder_entry.erase("id");
    added_decoder[std::to_string(next_id)] = decoder_entry;
    ++next_id;
  }
  trained.vocab_size = next_id;
  const nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", NormalizerJson()},
      {"pre_tokenizer", PreTokenizerJson()},
      {"post_processor", ByteLevelJson()},
      {"decoder", ByteLevelJson()},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges_json}}}};
  const nlohmann::json config = {
      {"add_bos_token", false},
      {"add_prefix_space", false},
      {"added_tokens_decoder", added_decoder},
      {"bos_token", nullptr},
      {"chat_template", std::string(ChatTemplateSource(ChatFamily::kQwen25))},
      {"clean_up_tokenization_spaces", false},
      {"eos_token", options.special_tokens.back()},
      {"errors", "replace"},
      {"model_max_length", 32768},
      {"pad_token", options.special_tokens.front()},
      {"split_special_tokens", false},
      {"tokenizer_class", "Qwen2Tokenizer"},
      {"unk_token", nullptr}};
  trained.tokenizer_json = tokenizer.dump(2, ' ', /*ensure_ascii=*/false);
  trained.tokenizer_config_json = config.dump(2, ' ', /*ensure_ascii=*/false);
  return trained;
}

absl::StatusOr<TrainedTokenizer> TrainBpeFromFile(const std::string& path,
                                                  const BpeTrainerOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open training corpus ", path));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!in.eof()) line.push_back('\n');
    if (!line.empty()) lines.push_back(std::move(line));
    line.clear();
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  if (lines.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  absl::StatusOr<TrainedTokenizer> trained = TrainBpe(lines, options);
  if (!trained.ok()) return Annotate(trained.status(), path);
  return trained;
}

absl::Status WriteTrainedTokenizer(const TrainedTokenizer& trained, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  for (const auto& [name, text] : {std::make_pair("tokenizer.json", &trained.tokenizer_json),
                                   std::make_pair("tokenizer_config.json",
                                                  &trained.tokenizer_config_json)}) {
    const fs::path final_path = fs::path(dir) / name;
    const fs::path temp_path = fs::path(dir) / (std::string(name) + ".tmp");
    {
      std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
      out << *text << "\n";
      if (!out.flush()) {
        return absl::InternalError(absl::StrCat("cannot write ", temp_path.string()));
      }
    }
    fs::rename(temp_path, final_path, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("cannot rename to ", final_path.string(), ": ", error.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace memr1::llm
