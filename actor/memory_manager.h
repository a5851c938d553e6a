#pragma once

// The Memory Manager (MM): given the facts extracted from one dialogue turn and the related
// memories already in the bank, it decides the bank operations, as JSON
//
//   {"memory": [{"id": "0", "text": "...", "event": "ADD|UPDATE|DELETE|NONE",
//                "old_memory": "..."}, ...]}
//
// One MM call per turn covers all of the turn's facts (as in Mem0's update step, which
// Memory-R1 trains): the related memories of every fact (k per fact, deduplicated, best first)
// are shown together, numbered "0", "1", ... so the model cannot invent real ids; the parser
// maps the numbers back.
//
// Parsing rules (ParseManagerOutput):
//  - the JSON is found anywhere in the output (fences and surrounding text are fine; see
//    FindJsonValue); it must be an object with a "memory" list (a bare list is kWrongShape);
//  - every element must be an object with an "event" string (kWrongShape otherwise); "event" is
//    case-insensitive and whitespace-trimmed, "NOOP" is NONE, anything else kUnknownEvent;
//  - "text", when present and not null, must be a string (kWrongShape); it is trimmed;
//  - ADD needs non-empty "text" (its "id" is ignored: the store assigns ids);
//  - UPDATE needs an "id" that was shown (kUnknownId, also when it has none) and non-empty
//    "text" (kMissingText);
//  - DELETE needs an id that was shown (kDeleteNotShown otherwise, also when it has none);
//    NONE an id that was shown (kUnknownId) or no id at all (absent, null or "");
//  - ids may be decimal strings or integers ("0", " 0 " or 0); "m3", "-1" and 1.5 name nothing;
//  - at most one operation per shown memory, whatever the events (kConflictingOps): a model
//    that both keeps and changes a memory, or changes it twice, has not decided;
//  - "old_memory" is informational: kept when it is a string, otherwise ignored;
//  - any failure rejects the whole output: no operation of it is applied. Details name the
//    element ("memory[2]: UPDATE of id \"7\", but only ids 0-3 were shown").
// An empty list is a valid decision (nothing to do).
//
// Thread safety: pure functions, except RetrieveRelated (which calls memstore; thread safe).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/output_format.h"
#include "actor/prompts.h"
#include "actor/text_policy.h"
#include "actor/turns.h"
#include "memr1/v1/memstore.pb.h"
#include "memstore/shard_router.h"

namespace memr1::actor {

// A memory as the agents see it.
struct ShownMemory {
  std::string id;  // real memstore id ("m12")
  std::string text;
  std::string speaker;
  std::string session_time;
  std::string turn_id;
  double score = 0;  // retrieval score

  static ShownMemory FromMemory(const v1::Memory& memory, double score);
};

struct ManagerInput {
  TurnContext turn;
  std::vector<std::string> facts;
  // shown[i] is displayed with id "i".
  std::vector<ShownMemory> shown;
};

// For each fact, the top `k` memories of `bank` as of `as_of_seq` (0 = latest) by BM25
// (SearchMode AUTO without an embedding); merged in fact order (each fact's hits best first),
// each memory once at its first place with its best score kept, at most k * facts.size().
// No facts: no memstore call and an empty result; blank facts are skipped. k <= 0 is
// InvalidArgument; memstore errors come back with their code, annotated with the bank name.
absl::StatusOr<std::vector<ShownMemory>> RetrieveRelated(const memstore::ShardRouter& router,
                                                         const std::string& bank,
                                                         uint64_t as_of_seq,
                                                         const std::vector<std::string>& facts,
                                                         int k);

// The MM request: one user message, templates.manager with {{facts}} as a JSON list of strings,
// {{memories}} as a JSON list of {"id": "<i>", "text": ...} (one element per line; "[]" when
// empty), {{speaker}} and {{date}} from the turn.
PolicyRequest BuildManagerRequest(const PromptTemplates& templates, const ManagerInput& input,
                                  const SamplingOptions& sampling);

struct ManagerOp {
  v1::MemoryEvent event = v1::MEMORY_EVENT_UNSPECIFIED;  // ADD, UPDATE, DELETE or NOOP
  int shown_index = -1;  // the shown memory acted on; -1 for ADD and id-less NONE
  std::string text;      // ADD / UPDATE text
  std::string old_memory;
};

// Parses an MM completion against `shown_count` shown memories (rules above).
Parsed<std::vector<ManagerOp>> ParseManagerOutput(std::string_view text, int shown_count);

// The memstore operations of `ops`, with real ids and the turn's provenance (speaker, dia_id as
// turn_id, session time) on ADD and UPDATE (so an UPDATE moves the memory to the speaker of the
// turn that changed it). NOOPs that name a memory are kept (logged in its history); id-less
// NONEs are dropped. `ops` must come from ParseManagerOutput against `input.shown`; an op whose
// shown_index is out of range is skipped rather than applied to the wrong memory.
std::vector<v1::Operation> ToOperations(const std::vector<ManagerOp>& ops,
                                        const ManagerInput& input);

// ADD-only manager (a baseline and the fallback nothing else uses): one ADD per non-blank fact,
// with the turn's provenance.
std::vector<v1::Operation> AddOnlyOperations(const ManagerInput& input);

}  // namespace memr1::actor
