#include "actor/answer_agent.h"

#include <cctype>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

// Debian's Abseil has its own string_view type, not std::string_view.
absl::string_view AsAbsl(std::string_view text) { return {text.data(), text.size()}; }

absl::StatusOr<std::vector<ShownMemory>> SpeakerMemories(const memstore::ShardRouter& router,
                                                         const std::string& bank,
                                                         uint64_t as_of_seq,
                                                         const std::string& question,
                                                         const std::string& speaker, int k) {
  v1::SearchRequest request;
  request.set_bank(bank);
  request.set_query(question);
  request.set_k(k);
  request.set_as_of_seq(as_of_seq);
  request.set_mode(v1::SEARCH_MODE_AUTO);
  request.add_speakers(speaker);
  absl::StatusOr<v1::SearchResponse> response = router.Search(request);
  if (!response.ok()) {
    return Annotate(response.status(),
                    absl::StrCat("searching bank \"", bank, "\" for the memories of ", speaker));
  }
  std::vector<ShownMemory> memories;
  memories.reserve(response->hits_size());
  for (const v1::SearchHit& hit : response->hits()) {
    memories.push_back(ShownMemory::FromMemory(hit.memory(), hit.score()));
  }
  return memories;
}

// One memory per line: a memory text with a line break would otherwise read as two memories
// (and the parser maps selected lines back by text, after collapsing whitespace).
std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

void AppendSection(const std::string& speaker, const std::vector<ShownMemory>& memories,
                   size_t keep, std::string* out) {
  absl::StrAppend(out, "Memories of ", speaker, ":\n");
  if (keep == 0) {
    absl::StrAppend(out, "(none)\n");
    return;
  }
  for (size_t i = 0; i < keep; ++i) {
    const ShownMemory& memory = memories[i];
    if (memory.session_time.empty()) {
      absl::StrAppend(out, OneLine(memory.text), "\n");
    } else {
      absl::StrAppend(out, "[", OneLine(memory.session_time), "] ", OneLine(memory.text), "\n");
    }
  }
}

PolicyRequest RenderRequest(const PromptTemplates& templates, const AnswerInput& input,
                            const SamplingOptions& sampling, size_t keep_a, size_t keep_b) {
  std::string memories;
  AppendSection(input.speaker_a, input.memories_a, keep_a, &memories);
  memories.push_back('\n');
  AppendSection(input.speaker_b, input.memories_b, keep_b, &memories);
  while (!memories.empty() && memories.back() == '\n') memories.pop_back();
  return AnswerPromptRequest(templates, input.question, memories, input.speaker_a, input.speaker_b,
                             sampling);
}

// How many memories of each speaker remain after `drops` budget drops. Each drop removes the
// last (lowest-scored) memory of the speaker with more memories left; on a tie, the one whose
// last memory scores lower (speaker B when the scores tie too).
std::pair<size_t, size_t> KeepAfterDrops(const AnswerInput& input, size_t drops) {
  size_t a = input.memories_a.size();
  size_t b = input.memories_b.size();
  for (size_t i = 0; i < drops && a + b > 0; ++i) {
    bool drop_a;
    if (a != b) {
      drop_a = a > b;
    } else {
      drop_a = input.memories_a[a - 1].score < input.memories_b[b - 1].score;
    }
    if (drop_a) {
      --a;
    } else {
      --b;
    }
  }
  return {a, b};
}

std::string NormalizeForMatch(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Strips list bullets ("-", "*", "•", "1.", "2)") and one leading "[time]" stamp.
std::string_view StripLinePrefix(std::string_view line) {
  absl::string_view rest = absl::StripAsciiWhitespace(AsAbsl(line));
  if (absl::ConsumePrefix(&rest, "- ") || absl::ConsumePrefix(&rest, "* ") ||
      absl::ConsumePrefix(&rest, "\xE2\x80\xA2")) {  // U+2022 bullet
    rest = absl::StripLeadingAsciiWhitespace(rest);
  } else {
    size_t digits = 0;
    while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) {
      ++digits;
    }
    // "2." or "2)" followed by a space; "10.5 km" is text, not a numbered item.
    if (digits > 0 && digits + 1 < rest.size() && (rest[digits] == '.' || rest[digits] == ')') &&
        absl::ascii_isspace(static_cast<unsigned char>(rest[digits + 1]))) {
      rest = absl::StripLeadingAsciiWhitespace(rest.substr(digits + 1));
    }
  }
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close != absl::string_view::npos) {
      rest = absl::StripLeadingAsciiWhitespace(rest.substr(close + 1));
    }
  }
  return std::string_view(rest.data(), rest.size());
}

// Trims whitespace, wrapping quotes / emphasis and trailing periods, until nothing changes.
std::string CleanAnswer(std::string_view raw) {
  absl::string_view text = absl::StripAsciiWhitespace(absl::string_view(raw.data(), raw.size()));
  static constexpr absl::string_view kWrappers[] = {
      "\"", "'", "`", "*", "\xE2\x80\x9C", "\xE2\x80\x9D", "\xE2\x80\x98", "\xE2\x80\x99"};
  bool changed = true;
  while (changed && !text.empty()) {
    changed = false;
    for (absl::string_view wrapper : kWrappers) {
      if (absl::ConsumePrefix(&text, wrapper)) changed = true;
      if (absl::ConsumeSuffix(&text, wrapper)) changed = true;
    }
    if (absl::ConsumeSuffix(&text, ".")) changed = true;
    text = absl::StripAsciiWhitespace(text);
  }
  return std::string(text);
}

// Byte offset of the last case-insensitive occurrence of `marker` in `text`, or npos.
size_t FindLastMarker(std::string_view text, std::string_view marker, size_t* first) {
  const std::string lower_text = absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
  const std::string lower_marker =
      absl::AsciiStrToLower(absl::string_view(marker.data(), marker.size()));
  *first = lower_text.find(lower_marker);
  return lower_text.rfind(lower_marker);
}

}  // namespace

absl::StatusOr<AnswerInput> RetrieveForQuestion(const memstore::ShardRouter& router,
                                                const std::string& bank, uint64_t as_of_seq,
                                                const std::string& question,
                                                const std::string& speaker_a,
                                                const std::string& speaker_b, int per_speaker_k) {
  if (per_speaker_k <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("retrieving memories from bank \"", bank,
                                                   "\": per_speaker_k must be > 0, got ",
                                                   per_speaker_k));
  }
  AnswerInput input;
  input.question = question;
  input.speaker_a = speaker_a;
  input.speaker_b = speaker_b;
  MEMR1_ASSIGN_OR_RETURN(input.memories_a, SpeakerMemories(router, bank, as_of_seq, question,
                                                           speaker_a, per_speaker_k));
  MEMR1_ASSIGN_OR_RETURN(input.memories_b, SpeakerMemories(router, bank, as_of_seq, question,
                                                           speaker_b, per_speaker_k));
  return input;
}

absl::StatusOr<AnswerRequest> BuildAnswerRequest(const PromptTemplates& templates,
                                                 const AnswerInput& input,
                                                 const SamplingOptions& sampling,
                                                 const TextPolicy* budget) {
  const size_t total = input.memories_a.size() + input.memories_b.size();
  size_t drops = 0;
  if (budget != nullptr && budget->max_prompt_tokens() > 0) {
    const int64_t limit = budget->max_prompt_tokens();
    auto fits = [&](size_t d) -> absl::StatusOr<bool> {
      const auto [a, b] = KeepAfterDrops(input, d);
      const PolicyRequest request = RenderRequest(templates, input, sampling, a, b);
      absl::StatusOr<int64_t> tokens = budget->CountPromptTokens(request.messages);
      if (!tokens.ok()) {
        return Annotate(tokens.status(), absl::StrCat("counting the answer prompt of question \"",
                                                      input.question, "\""));
      }
      return *tokens + sampling.max_tokens <= limit;
    };
    MEMR1_ASSIGN_OR_RETURN(const bool all_fit, fits(0));
    if (!all_fit) {
      MEMR1_ASSIGN_OR_RETURN(const bool none_fit, fits(total));
      if (!none_fit) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the answer prompt of question \"", input.question,
            "\" does not fit the policy's context even without memories (max_prompt_tokens ", limit,
            ", max_tokens ", sampling.max_tokens, ")"));
      }
      // Fewest drops that fit, by binary search: fits(lo) is false, fits(hi) is true. Prompt
      // length grows with the memories kept, so the predicate is monotone in `drops`.
      size_t lo = 0;
      size_t hi = total;
      while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        MEMR1_ASSIGN_OR_RETURN(const bool mid_fits, fits(mid));
        if (mid_fits) {
          hi = mid;
        } else {
          lo = mid;
        }
      }
      drops = hi;
    }
  }
  const auto [keep_a, keep_b] = KeepAfterDrops(input, drops);
  AnswerRequest out;
  out.request = RenderRequest(templates, input, sampling, keep_a, keep_b);
  out.shown.reserve(keep_a + keep_b);
  out.shown.insert(out.shown.end(), input.memories_a.begin(), input.memories_a.begin() + keep_a);
  out.shown.insert(out.shown.end(), input.memories_b.begin(), input.memories_b.begin() + keep_b);
  out.dropped_for_budget = static_cast<int>(drops);
  return out;
}

PolicyRequest AnswerPromptRequest(const PromptTemplates& templates, std::string_view question,
                                  std::string_view memories, std::string_view speaker_a,
                                  std::string_view speaker_b, const SamplingOptions& sampling) {
  PolicyRequest request;
  request.sampling = sampling;
  request.messages.push_back(
      {"user", RenderTemplate(templates.answer, {{"question", std::string(question)},
                                                 {"memories", std::string(memories)},
                                                 {"speaker_a", std::string(speaker_a)},
                                                 {"speaker_b", std::string(speaker_b)},
                                                 {"marker", templates.answer_marker}})});
  return request;
}

Parsed<ParsedAnswer> ParseAnswerOutput(std::string_view text, std::string_view marker,
                                       const std::vector<ShownMemory>& shown) {
  using Result = Parsed<ParsedAnswer>;
  size_t first = std::string_view::npos;
  const size_t last =
      marker.empty() ? std::string_view::npos : FindLastMarker(text, marker, &first);
  if (last == std::string_view::npos) {
    // The end of the output says most about a missing marker (a truncated or rambling answer).
    size_t tail = text.size() > 200 ? text.size() - 200 : 0;
    while (tail < text.size() && (static_cast<unsigned char>(text[tail]) & 0xC0) == 0x80) ++tail;
    return Result::Fail(FormatFailureKind::kNoAnswerMarker,
                        absl::StrCat("no \"", AsAbsl(marker), "\" in output: \"",
                                     Excerpt(text.substr(tail)), "\""));
  }
  // The answer: the rest of the marker's line, or the next non-empty line when the model
  // broke the line right after the marker.
  std::string_view after = text.substr(last + marker.size());
  std::string answer;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(after.data(), after.size()), '\n')) {
    answer = CleanAnswer(std::string_view(line.data(), line.size()));
    if (!answer.empty()) break;
  }
  if (answer.empty()) {
    return Result::Fail(FormatFailureKind::kEmptyAnswer,
                        absl::StrCat("nothing after \"", AsAbsl(marker), "\": \"",
                                     Excerpt(text.substr(last)), "\""));
  }
  ParsedAnswer parsed;
  parsed.answer = std::move(answer);
  std::vector<std::string> normalized_shown;
  normalized_shown.reserve(shown.size());
  for (const ShownMemory& memory : shown)
    normalized_shown.push_back(NormalizeForMatch(memory.text));
  std::set<std::string> selected;
  const std::string_view before = text.substr(0, first);
  for (absl::string_view raw :
       absl::StrSplit(absl::string_view(before.data(), before.size()), '\n')) {
    const std::string_view line = StripLinePrefix(std::string_view(raw.data(), raw.size()));
    if (line.empty()) continue;
    parsed.selected_lines.emplace_back(line);
    const std::string key = NormalizeForMatch(line);
    for (size_t i = 0; i < shown.size(); ++i) {
      if (normalized_shown[i] == key) {
        if (selected.insert(shown[i].id).second) parsed.selected_ids.push_back(shown[i].id);
        break;
      }
    }
  }
  return Result::Ok(std::move(parsed));
}

std::string FallbackAnswer(std::string_view text) {
  std::string last;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (!trimmed.empty()) last = std::string(trimmed);
  }
  return last;
}

}  // namespace memr1::actor
