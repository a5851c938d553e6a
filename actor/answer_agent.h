#pragma once

// The Answer Agent (AA): retrieves the memories of each speaker for a question (top k per
// speaker, 60 in all by default, each shown with its dialogue time), asks the model to first
// list the memories that matter ("memory distillation") and then give the final answer after
// the marker (default "**Answer:**", at most 5-6 words).
//
// Prompt budget: when the policy knows its context (max_prompt_tokens() > 0), the lowest-scored
// memories are dropped, one at a time from the speaker with more memories (on a tie, the one
// whose last memory scores lower; speaker B when those tie too), until the prompt plus
// sampling.max_tokens fits; the number dropped is reported. The fewest drops that fit are found
// by binary search (at most ceil(log2(n)) + 2 CountPromptTokens calls for n memories). A
// question that does not fit even with no memories is an InvalidArgument naming it.
//
// Parsing (ParseAnswerOutput): the marker is matched ASCII-case-insensitively. The answer is the
// text after the *last* marker, up to the end of its line (the next non-empty line when the
// marker ends its line), trimmed of whitespace, wrapping quotes (straight and curly), backticks
// and asterisks, and trailing periods. The selected memories are the non-empty lines before the
// first marker, stripped of list bullets ("-", "*", "•" (U+2022), "1.", "1)") and of a leading
// "[time]" stamp; a selected line is mapped to a shown memory when their texts are equal after
// ASCII lower-casing and collapsing whitespace (the first such memory when texts repeat).
// Without a marker the output is a kNoAnswerMarker failure; an empty answer is kEmptyAnswer.
// For scoring a failed output, FallbackAnswer gives the last non-empty line (the reward path
// decides what it is worth).
//
// Thread safety: pure functions, except RetrieveForQuestion (memstore calls; thread safe).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/memory_manager.h"
#include "actor/output_format.h"
#include "actor/prompts.h"
#include "actor/text_policy.h"

namespace memr1::actor {

struct AnswerInput {
  std::string question;
  std::string speaker_a;
  std::string speaker_b;
  // Best first.
  std::vector<ShownMemory> memories_a;
  std::vector<ShownMemory> memories_b;
};

// Top `per_speaker_k` memories of each speaker in `bank` as of `as_of_seq` (0 = latest) for
// `question` (BM25 over the memories whose speaker is that speaker), best first. A speaker
// without memories gets an empty list. per_speaker_k <= 0 is InvalidArgument; memstore errors
// keep their code and are annotated with the bank name.
absl::StatusOr<AnswerInput> RetrieveForQuestion(const memstore::ShardRouter& router,
                                                const std::string& bank, uint64_t as_of_seq,
                                                const std::string& question,
                                                const std::string& speaker_a,
                                                const std::string& speaker_b, int per_speaker_k);

struct AnswerRequest {
  PolicyRequest request;
  // The memories in the prompt, in prompt order (speaker A's, then speaker B's).
  std::vector<ShownMemory> shown;
  int dropped_for_budget = 0;
};

// The AA request: one user message, templates.answer with {{memories}} rendered as one section
// per speaker ("Memories of <speaker>:" then "[<session_time>] <text>" per line, line breaks in
// a text flattened to spaces, no stamp when the time is empty, "(none)" for no memories). `budget` (may be null) is the policy whose
// CountPromptTokens / max_prompt_tokens bound the prompt (see above).
absl::StatusOr<AnswerRequest> BuildAnswerRequest(const PromptTemplates& templates,
                                                 const AnswerInput& input,
                                                 const SamplingOptions& sampling,
                                                 const TextPolicy* budget);

// The AA request for `question` with `memories` as the already rendered {{memories}} text (the
// full-context baseline passes a transcript).
PolicyRequest AnswerPromptRequest(const PromptTemplates& templates, std::string_view question,
                                  std::string_view memories, std::string_view speaker_a,
                                  std::string_view speaker_b, const SamplingOptions& sampling);

struct ParsedAnswer {
  std::string answer;
  std::vector<std::string> selected_lines;
  // Ids of the shown memories the selected lines name, in line order, without duplicates.
  std::vector<std::string> selected_ids;
};

Parsed<ParsedAnswer> ParseAnswerOutput(std::string_view text, std::string_view marker,
                                       const std::vector<ShownMemory>& shown);

// The last non-empty line of `text`, trimmed (the answer of an output without a marker).
std::string FallbackAnswer(std::string_view text);

}  // namespace memr1::actor
