#include "llm/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "llm/unicode.h"

namespace memr1::llm {

const char kGpt2SplitPattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

pcre2_code* Code(void* code) { return static_cast<pcre2_code*>(code); }

// Per-thread PCRE2 scratch: a JIT stack large enough for long whitespace runs, and the
// match context that points at it. Match data is sized per pattern, so it is made per call.
struct ThreadScratch {
  ThreadScratch() {
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    context = pcre2_match_context_create(nullptr);
    if (jit_stack != nullptr && context != nullptr) {
      pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
  }
  ~ThreadScratch() {
    if (context != nullptr) pcre2_match_context_free(context);
    if (jit_stack != nullptr) pcre2_jit_stack_free(jit_stack);
  }
  pcre2_jit_stack* jit_stack = nullptr;
  pcre2_match_context* context = nullptr;
};

ThreadScratch& Scratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext };

}  // namespace

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(std::string_view pattern, bool literal) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  uint32_t options = PCRE2_UTF | PCRE2_UCP;
  if (literal) options |= PCRE2_LITERAL;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("bad regex '", ToAbsl(pattern), "' at offset ",
                                                   error_offset, ": ", Pcre2Message(error_code)));
  }
  // JIT is an optimization: when it is unavailable, pcre2_match interprets the pattern.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return std::unique_ptr<Regex>(new Regex(code, std::string(pattern)));
}

Regex::~Regex() { pcre2_code_free(Code(code_)); }

absl::Status Regex::FindAll(std::string_view text,
                            std::vector<std::pair<size_t, size_t>>* matches) const {
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(Code(code_), nullptr);
  if (data == nullptr) return absl::ResourceExhaustedError("pcre2_match_data_create failed");
  ThreadScratch& scratch = Scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  absl::Status status;
  while (offset <= text.size()) {
    const int rc = pcre2_match(Code(code_), subject, text.size(), offset, PCRE2_NO_UTF_CHECK,
                               data, scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      status = absl::InternalError(
          absl::StrCat("regex match failed (", pattern_, "): ", Pcre2Message(rc)));
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) {
      // Empty match: step over one code point so the scan always advances.
      if (begin >= text.size()) break;
      size_t next = begin;
      NextCodePoint(text, &next);
      offset = next;
      continue;
    }
    matches->emplace_back(begin, end);
    offset = end;
  }
  pcre2_match_data_free(data);
  return status;
}

struct PreTokenizer::Step {
  enum class Kind { kSplit, kByteLevel } kind;
  std::unique_ptr<Regex> regex;  // Split, or ByteLevel with use_regex
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool add_prefix_space = false;
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::~PreTokenizer() = default;

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(
    const nlohmann::json& json) {
  std::unique_ptr<PreTokenizer> result(new PreTokenizer());
  if (json.is_null()) return result;
  std::vector<const nlohmann::json*> steps;
  if (!json.is_object() || !json.contains("type")) {
    return absl::InvalidArgumentError("pre_tokenizer: expected an object with a \"type\"");
  }
  if (json.at("type") == "Sequence") {
    for (const auto& step : json.at("pretokenizers")) steps.push_back(&step);
  } else {
    steps.push_back(&json);
  }
  for (const nlohmann::json* step_json : steps) {
    const std::string type = step_json->value("type", "");
    Step step;
    if (type == "Split") {
      if (result->byte_level_) {
        return absl::UnimplementedError("pre_tokenizer: Split after ByteLevel is not supported");
      }
      if (step_json->value("invert", false)) {
        return absl::UnimplementedError("pre_tokenizer: Split with invert=true is not supported");
      }
      const nlohmann::json& pattern = step_json->at("pattern");
      std::unique_ptr<Regex> regex;
      if (pattern.contains("Regex")) {
        MEMR1_ASSIGN_OR_RETURN(regex, Regex::Compile(pattern.at("Regex").get<std::string>()));
      } else if (pattern.contains("String")) {
        MEMR1_ASSIGN_OR_RETURN(
            regex, Regex::Compile(pattern.at("String").get<std::string>(), /*literal=*/true));
      } else {
        return absl::InvalidArgumentError("pre_tokenizer: Split pattern needs Regex or String");
      }
      const std::string behavior = step_json->value("behavior", "");
      if (behavior == "Isolated") {
        step.behavior = SplitBehavior::kIsolated;
      } else if (behavior == "Removed") {
        step.behavior = SplitBehavior::kRemoved;
      } else if (behavior == "MergedWithPrevious") {
        step.behavior = SplitBehavior::kMergedWithPrevious;
      } else if (behavior == "MergedWithNext") {
        step.behavior = SplitBehavior::kMergedWithNext;
      } else {
        return absl::UnimplementedError(
            absl::StrCat("pre_tokenizer: Split behavior '", behavior, "' is not supported"));
      }
      step.kind = Step::Kind::kSplit;
      step.regex = std::move(regex);
    } else if (type == "ByteLevel") {
      step.kind = Step::Kind::kByteLevel;
      step.add_prefix_space = step_json->value("add_prefix_space", false);
      if (step_json->value("use_regex", true)) {
        MEMR1_ASSIGN_OR_RETURN(step.regex, Regex::Compile(kGpt2SplitPattern));
      }
      result->byte_level_ = true;
    } else {
      return absl::UnimplementedError(
          absl::StrCat("pre_tokenizer type '", type, "' is not supported"));
    }
    result->steps_.push_back(std::move(step));
  }
  return result;
}

namespace {

absl::Status SplitWord(const Regex& regex, SplitBehavior behavior, std::string_view word,
                       std::vector<std::string_view>* out) {
  std::vector<std::pair<size_t, size_t>> matches;
  MEMR1_RETURN_IF_ERROR(regex.FindAll(word, &matches));
  const auto emit = [&](size_t begin, size_t end) {
    if (end > begin) out->push_back(word.substr(begin, end - begin));
  };
  size_t last = 0;  // end of what has been emitted
  for (const auto& [begin, end] : matches) {
    switch (behavior) {
      case SplitBehavior::kIsolated:
        emit(last, begin);
        emit(begin, end);
        last = end;
        break;
      case SplitBehavior::kRemoved:
        emit(last, begin);
        last = end;
        break;
      case SplitBehavior::kMergedWithPrevious:
        emit(last, end);
        last = end;
        break;
      case SplitBehavior::kMergedWithNext:
        emit(last, begin);
        last = begin;
        break;
    }
  }
  emit(last, word.size());
  return absl::OkStatus();
}

}  // namespace

absl::Status PreTokenizer::Split(std::string_view text, std::deque<std::string>* arena,
                                 std::vector<std::string_view>* words) const {
  std::vector<std::string_view> current{text};
  std::vector<std::string_view> next;
  for (const Step& step : steps_) {
    next.clear();
    for (std::string_view word : current) {
      if (word.empty()) continue;
      if (step.kind == Step::Kind::kByteLevel && step.add_prefix_space && word.front() != ' ') {
        arena->push_back(absl::StrCat(" ", ToAbsl(word)));
        word = arena->back();
      }
      if (step.regex == nullptr) {
        next.push_back(word);
      } else {
        MEMR1_RETURN_IF_ERROR(SplitWord(*step.regex, step.behavior, word, &next));
      }
    }
    current.swap(next);
  }
  for (std::string_view word : current) {
    if (!word.empty()) words->push_back(word);
  }
  return absl::OkStatus();
}

}  // namespace memr1::llm
