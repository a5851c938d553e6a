#include "llm/tokenizer.h"

#include <atomic>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "llm/bpe.h"
#include "llm/normalizer.h"
#include "llm/pretokenizer.h"
#include "llm/tokenizer_added_tokens.h"
#include "llm/unicode.h"

namespace memr1::llm {

namespace internal {

struct TokenizerImpl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> bpe;
  std::vector<AddedToken> added_tokens;
  std::unique_ptr<AddedTokenMatcher> raw_matcher;
  std::unique_ptr<AddedTokenMatcher> normalized_matcher;
  absl::flat_hash_map<std::string, int32_t> added_by_content;
  absl::flat_hash_map<int32_t, size_t> added_by_id;  // id -> index into added_tokens
  std::vector<int32_t> prefix_ids;                   // post-processor, single sequence
  std::vector<int32_t> suffix_ids;
  int32_t vocab_size = 0;
  std::optional<int32_t> bos_id, eos_id, pad_id;
  std::string bos_token, eos_token, pad_token;
  bool clean_up_tokenization_spaces = false;
  std::string chat_template;
  std::string source;

  absl::Status EncodeText(std::string_view text, std::vector<int32_t>* ids) const;
};

}  // namespace internal

namespace {

using internal::TokenizerImpl;

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path.string()));
  return buffer.str();
}

absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view what) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(ToAbsl(what), ": invalid JSON"));
  return json;
}

// Parses the post-processor into the ids placed before and after the sequence.
absl::Status ParsePostProcessor(const nlohmann::json& json, TokenizerImpl* impl) {
  if (json.is_null()) return absl::OkStatus();
  const std::string type = json.value("type", "");
  if (type == "Sequence") {
    for (const auto& step : json.at("processors")) {
      MEMR1_RETURN_IF_ERROR(ParsePostProcessor(step, impl));
    }
    return absl::OkStatus();
  }
  if (type == "ByteLevel") return absl::OkStatus();  // only adjusts offsets
  if (type != "TemplateProcessing") {
    return absl::UnimplementedError(
        absl::StrCat("post_processor type '", type, "' is not supported"));
  }
  const nlohmann::json& special = json.value("special_tokens", nlohmann::json::object());
  bool seen_sequence = false;
  for (const auto& item : json.at("single")) {
    if (item.contains("Sequence")) {
      if (seen_sequence || item.at("Sequence").value("id", "A") != "A") {
        return absl::UnimplementedError(
            "post_processor: TemplateProcessing 'single' must hold sequence A once");
      }
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      if (!special.contains(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("post_processor: special token '", name, "' is not defined"));
      }
      auto& target = seen_sequence ? impl->suffix_ids : impl->prefix_ids;
      for (const auto& id : special.at(name).at("ids")) target.push_back(id.get<int32_t>());
    } else {
      return absl::InvalidArgumentError("post_processor: unknown TemplateProcessing item");
    }
  }
  return absl::OkStatus();
}

// A special token entry of tokenizer_config.json: a string, {"content": ...}, or null.
std::string ConfigToken(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "";
  const nlohmann::json& value = config.at(key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string()) {
    return value.at("content").get<std::string>();
  }
  return "";
}

absl::Status ParseConfig(const nlohmann::json& config, Tokenizer& tokenizer,
                         TokenizerImpl* impl) {
  const auto resolve = [&](const char* key, std::string* token,
                           std::optional<int32_t>* id) -> absl::Status {
    *token = ConfigToken(config, key);
    if (token->empty()) return absl::OkStatus();
    *id = tokenizer.TokenToId(*token);
    if (!id->has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer_config.json: ", key, " '", *token,
                                                     "' is not in the vocabulary"));
    }
    return absl::OkStatus();
  };
  MEMR1_RETURN_IF_ERROR(resolve("bos_token", &impl->bos_token, &impl->bos_id));
  MEMR1_RETURN_IF_ERROR(resolve("eos_token", &impl->eos_token, &impl->eos_id));
  MEMR1_RETURN_IF_ERROR(resolve("pad_token", &impl->pad_token, &impl->pad_id));
  impl->clean_up_tokenization_spaces = config.value("clean_up_tokenization_spaces", false);
  if (config.contains("chat_template")) {
    const nlohmann::json& chat = config.at("chat_template");
    if (chat.is_string()) {
      impl->chat_template = chat.get<std::string>();
    } else if (chat.is_array()) {
      // Named templates: [{"name": "default", "template": "..."}, ...].
      for (const auto& entry : chat) {
        if (entry.value("name", "") == "default") {
          impl->chat_template = entry.value("template", "");
        }
      }
    }
  }
  return absl::OkStatus();
}

// transformers' clean_up_tokenization: each rewrite applied to the whole text in turn.
std::string CleanUpTokenization(std::string text) {
  static const std::pair<const char*, const char*> kRewrites[] = {
      {" .", "."},     {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"},   {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRewrites) absl::StrReplaceAll({{from, to}}, &text);
  return text;
}

}  // namespace

absl::Status TokenizerImpl::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  std::vector<AddedTokenMatcher::Segment> raw_segments;
  raw_matcher->Split(text, &raw_segments);
  std::vector<AddedTokenMatcher::Segment> segments;
  std::deque<std::string> arena;
  std::vector<std::string_view> words;
  for (const auto& raw : raw_segments) {
    if (raw.id >= 0) {
      ids->push_back(raw.id);
      continue;
    }
    std::string normalized_storage;
    std::string_view normalized = raw.text;
    if (!normalizer->empty()) {
      MEMR1_ASSIGN_OR_RETURN(normalized_storage, normalizer->Apply(raw.text));
      normalized = normalized_storage;
    }
    segments.clear();
    normalized_matcher->Split(normalized, &segments);
    for (const auto& segment : segments) {
      if (segment.id >= 0) {
        ids->push_back(segment.id);
        continue;
      }
      words.clear();
      arena.clear();
      MEMR1_RETURN_IF_ERROR(pre_tokenizer->Split(segment.text, &arena, &words));
      for (const std::string_view word : words) bpe->EncodeWord(word, ids);
    }
  }
  return absl::OkStatus();
}

Tokenizer::Tokenizer(std::unique_ptr<internal::TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path json_path = path;
  if (fs::is_directory(json_path, error)) json_path /= "tokenizer.json";
  if (!fs::exists(json_path, error)) {
    return absl::NotFoundError(absl::StrCat("no tokenizer.json at ", json_path.string()));
  }
  MEMR1_ASSIGN_OR_RETURN(const std::string tokenizer_json, ReadFile(json_path));
  const fs::path dir = json_path.parent_path().empty() ? fs::path(".") : json_path.parent_path();
  std::string config_json;
  if (fs::exists(dir / "tokenizer_config.json", error)) {
    MEMR1_ASSIGN_OR_RETURN(config_json, ReadFile(dir / "tokenizer_config.json"));
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = FromJson(tokenizer_json, config_json);
  if (!tokenizer.ok()) return Annotate(tokenizer.status(), json_path.string());
  (*tokenizer)->impl_->source = path;
  // Newer checkpoints keep the template in its own file.
  if ((*tokenizer)->impl_->chat_template.empty() && fs::exists(dir / "chat_template.jinja", error)) {
    MEMR1_ASSIGN_OR_RETURN((*tokenizer)->impl_->chat_template,
                           ReadFile(dir / "chat_template.jinja"));
  }
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view tokenizer_json,
                                                               std::string_view config_json) {
  MEMR1_ASSIGN_OR_RETURN(const nlohmann::json json, ParseJson(tokenizer_json, "tokenizer.json"));
  if (!json.is_object()) return absl::InvalidArgumentError("tokenizer.json: expected an object");
  auto impl = std::make_unique<TokenizerImpl>();
  try {
    for (const char* key : {"truncation", "padding"}) {
      if (json.contains(key) && !json.at(key).is_null()) {
        return absl::UnimplementedError(
            absl::StrCat("tokenizer.json '", key, "' is not supported (must be null)"));
      }
    }
    if (!json.contains("model")) return absl::InvalidArgumentError("tokenizer.json: no model");
    MEMR1_ASSIGN_OR_RETURN(impl->bpe, BpeModel::FromJson(json.at("model")));
    MEMR1_ASSIGN_OR_RETURN(impl->normalizer,
                           Normalizer::FromJson(json.value("normalizer", nlohmann::json())));
    MEMR1_ASSIGN_OR_RETURN(impl->pre_tokenizer,
                           PreTokenizer::FromJson(json.value("pre_tokenizer", nlohmann::json())));
    if (!impl->pre_tokenizer->byte_level()) {
      return absl::UnimplementedError(
          "pre_tokenizer: BPE without a ByteLevel pre-tokenizer is not supported");
    }
    const nlohmann::json decoder = json.value("decoder", nlohmann::json());
    if (decoder.is_null() || decoder.value("type", "") != "ByteLevel") {
      return absl::UnimplementedError(absl::StrCat(
          "decoder '", decoder.is_null() ? "null" : decoder.value("type", "?"),
          "' is not supported (ByteLevel only)"));
    }
    MEMR1_ASSIGN_OR_RETURN(
        impl->added_tokens, ParseAddedTokens(json.value("added_tokens", nlohmann::json())));
    MEMR1_RETURN_IF_ERROR(
        ParsePostProcessor(json.value("post_processor", nlohmann::json()), impl.get()));
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", e.what()));
  }
  impl->vocab_size = impl->bpe->size();
  for (size_t i = 0; i < impl->added_tokens.size(); ++i) {
    const AddedToken& token = impl->added_tokens[i];
    impl->added_by_content.try_emplace(token.content, token.id);
    impl->added_by_id.try_emplace(token.id, i);
    impl->vocab_size = std::max(impl->vocab_size, token.id + 1);
  }
  for (const int32_t id : impl->prefix_ids) {
    if (id < 0 || id >= impl->vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("post_processor: id ", id, " out of range"));
    }
  }
  impl->raw_matcher = std::make_unique<AddedTokenMatcher>(impl->added_tokens, false);
  impl->normalized_matcher = std::make_unique<AddedTokenMatcher>(impl->added_tokens, true);
  TokenizerImpl* raw_impl = impl.get();
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(impl)));
  if (!config_json.empty()) {
    MEMR1_ASSIGN_OR_RETURN(const nlohmann::json config,
                           ParseJson(config_json, "tokenizer_config.json"));
    if (!config.is_object()) {
      return absl::InvalidArgumentError("tokenizer_config.json: expected an object");
    }
    MEMR1_RETURN_IF_ERROR(ParseConfig(config, *tokenizer, raw_impl));
  }
  if (!raw_impl->bos_id.has_value() && raw_impl->prefix_ids.size() == 1) {
    raw_impl->bos_id = raw_impl->prefix_ids[0];
    raw_impl->bos_token = *tokenizer->IdToToken(raw_impl->prefix_ids[0]);
  }
  return tokenizer;
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text,
                                                      bool add_special_tokens) const {
  MEMR1_RETURN_IF_ERROR(ValidateUtf8(text));
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens) ids = impl_->prefix_ids;
  MEMR1_RETURN_IF_ERROR(impl_->EncodeText(text, &ids));
  if (add_special_tokens) {
    ids.insert(ids.end(), impl_->suffix_ids.begin(), impl_->suffix_ids.end());
  }
  return ids;
}

absl::StatusOr<std::vector<std::vector<int32_t>>> Tokenizer::EncodeBatch(
    absl::Span<const std::string> texts, bool add_special_tokens, int num_threads) const {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  num_threads = std::min<int>(num_threads, static_cast<int>(texts.size()));
  std::vector<std::vector<int32_t>> results(texts.size());
  std::vector<absl::Status> statuses(texts.size());
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t i = next.fetch_add(1); i < texts.size(); i = next.fetch_add(1)) {
      absl::StatusOr<std::vector<int32_t>> ids = Encode(texts[i], add_special_tokens);
      if (ids.ok()) {
        results[i] = *std::move(ids);
      } else {
        statuses[i] = ids.status();
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < num_threads; ++t) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (!statuses[i].ok()) return Annotate(statuses[i], absl::StrCat("text ", i));
  }
  return results;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids,
                                              bool skip_special_tokens) const {
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    const auto added = impl_->added_by_id.find(id);
    if (added != impl_->added_by_id.end()) {
      const AddedToken& token = impl_->added_tokens[added->second];
      if (!(skip_special_tokens && token.special)) bytes += token.content;
      continue;
    }
    if (id < 0 || id >= impl_->bpe->size() || impl_->bpe->IdToToken(id).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("ids[", i, "] = ", id, " is not a token id (vocab size ",
                       impl_->vocab_size, ")"));
    }
    bytes += impl_->bpe->TokenBytes(id);
  }
  std::string text = Utf8Lossy(bytes);
  if (impl_->clean_up_tokenization_spaces) text = CleanUpTokenization(std::move(text));
  return text;
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  const auto added = impl_->added_by_content.find(ToAbsl(token));
  if (added != impl_->added_by_content.end()) return added->second;
  return impl_->bpe->TokenToId(token);
}

std::optional<std::string> Tokenizer::IdToToken(int32_t id) const {
  const auto added = impl_->added_by_id.find(id);
  if (added != impl_->added_by_id.end()) return impl_->added_tokens[added->second].content;
  const std::string& token = impl_->bpe->IdToToken(id);
  if (token.empty()) return std::nullopt;
  return token;
}

bool Tokenizer::IsSpecialId(int32_t id) const {
  const auto added = impl_->added_by_id.find(id);
  return added != impl_->added_by_id.end() && impl_->added_tokens[added->second].special;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad_id; }
const std::string& Tokenizer::bos_token() const { return impl_->bos_token; }
const std::string& Tokenizer::eos_token() const { return impl_->eos_token; }
const std::string& Tokenizer::chat_template_text() const { return impl_->chat_template; }
const std::string& Tokenizer::source() const { return impl_->source; }

}  // namespace memr1::llm
