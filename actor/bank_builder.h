#pragma once

// Bank building: the frozen-manager path. Runs fact extraction and the Memory Manager over a
// conversation's turns into a memstore bank, the bank the Answer Agent is trained and evaluated
// on, and the starting state of Memory Manager episodes.
//
// One Apply per turn, with request_id "turn-<i>" (an empty Apply when the turn changes nothing),
// so after turn i the bank's seq is i + 1, the bank as it was before turn i is the bank as of
// seq i, and a rebuild after a crash resumes where it stopped without applying a turn twice.
//
// Caching: the bank name encodes the conversation, the pipeline's tag, a fingerprint of
// everything that decides the operations (prompts, k, extraction mode, manager mode, sampling,
// the policies' identity) and the manager's policy version. A bank whose seq equals the
// conversation's turn count is complete and reused as is; a shorter one is continued.
//
// Batching: the turns of different conversations are independent, so turn i of every
// conversation still being built goes to the policies in one batch (extraction, then manager).
//
// Failures: a completion that does not parse changes nothing (an empty Apply for that turn) and
// is counted in the stats and in memr1_actor_format_failures_total{agent="extraction"|
// "memory_manager", kind}; policy and memstore errors fail Build (the banks stay resumable).
// Applied operations are counted in the stats and in memr1_actor_bank_ops_total{event}.
//
// Thread safety: not thread safe (the policies are not).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "actor/dataset.h"
#include "actor/output_format.h"
#include "actor/prompts.h"
#include "actor/text_policy.h"
#include "actor/turns.h"
#include "memstore/shard_router.h"

namespace memr1::actor {

enum class ManagerMode {
  kPolicy,   // the Memory Manager policy decides
  kAddOnly,  // every fact is ADDed
};

struct BankBuildOptions {
  bool llm_extraction = true;  // false: the identity extractor (the turn is the fact)
  ManagerMode manager_mode = ManagerMode::kPolicy;
  int retrieve_k = 10;
  int max_facts_per_turn = 8;
  // For extraction and manager calls (evaluation and frozen managers use greedy: temperature 0).
  SamplingOptions sampling;
  // TTL of new banks; 0 never expires.
  int64_t ttl_seconds = 0;
  // Names the pipeline in bank names: 1-32 characters of [A-Za-z0-9_-], starting with a letter
  // or digit ("mr1", "addonly", "rag").
  std::string tag = "mr1";

  // InvalidArgument naming the field.
  absl::Status Validate() const;
};

struct BankBuildStats {
  int64_t turns = 0;  // turns processed by this Build (not reused ones)
  int64_t facts = 0;
  int64_t facts_dropped = 0;  // over max_facts_per_turn
  int64_t extraction_failures = 0;
  int64_t manager_calls = 0;
  int64_t manager_failures = 0;
  std::map<v1::MemoryEvent, int64_t> ops;  // applied operations by event
  std::map<std::string, int64_t> failures_by_kind;  // FormatFailureName -> count

  void Merge(const BankBuildStats& other);
};

struct BuiltBank {
  std::string conversation_id;
  std::string bank;
  uint64_t seq = 0;      // == the conversation's turn count
  bool reused = false;   // complete before this Build
  BankBuildStats stats;
};

// Called after each batch of turns: turns done (reused ones included) and the total.
using BuildProgress = std::function<void(int64_t done, int64_t total)>;

// `text` as part of a bank name: characters outside [A-Za-z0-9._:-] become '_' and, when
// anything was replaced or the text is longer than 96 bytes (it is then cut), "-h<8 hex>" of
// StableHash(text) is appended so different ids stay distinct. Never empty ("_" for ""), never
// contains '/' (memstore's fork separator and routing-key end).
std::string SanitizeBankComponent(std::string_view text);

// Counts one format failure in memr1_actor_format_failures_total{agent, kind}
// (MetricsRegistry::Default(); agent "extraction", "memory_manager" or "answer_agent").
void CountFormatFailure(std::string_view agent, FormatFailureKind kind);

class BankBuilder {
 public:
  // Not owned; each must outlive the builder. `extraction_policy` is needed when
  // llm_extraction, `manager_policy` when manager_mode is kPolicy (may be the same object);
  // InvalidArgument from Create otherwise.
  static absl::StatusOr<std::unique_ptr<BankBuilder>> Create(const memstore::ShardRouter* router,
                                                             TextPolicy* extraction_policy,
                                                             TextPolicy* manager_policy,
                                                             const PromptTemplates* templates,
                                                             BankBuildOptions options);
  ~BankBuilder();

  // "<tag>.<conversation id, sanitised>.<fingerprint>.v<manager version>": a valid memstore
  // bank name without '/' (see SanitizeBankComponent). The fingerprint (16 hex digits) is a
  // StableHash of the extraction and manager templates, every option but ttl_seconds, and the
  // Describe() text of the policies in use with its " (v<N>)" part cut off, so a new version
  // of the same model changes only the "v<N>" part. The manager version is 0 in ADD-only mode.
  std::string BankName(std::string_view conversation_id) const;

  // Builds (continues, or reuses) the bank of every conversation; result i is conversation i's.
  // InvalidArgument for a null conversation or two with one id; FailedPrecondition when an
  // existing bank is ahead of its conversation (seq > turn count). Policy and memstore errors
  // stop the build with the turns done so far applied (a later Build continues from there).
  absl::StatusOr<std::vector<BuiltBank>> Build(absl::Span<const Conversation* const> conversations,
                                               const BuildProgress& progress = nullptr);

  // Turns still to apply to these conversations' banks (a missing bank counts all of its
  // turns): 0 when every one is complete. For builders that share banks, to wait on each other.
  // Memstore errors other than NotFound are returned.
  absl::StatusOr<int64_t> TurnsLeft(absl::Span<const Conversation* const> conversations) const;

  // Runs one turn of one bank (extraction, retrieval as of the bank's current state, manager,
  // one Apply with request_id "turn-<index>"), for callers that step turns themselves.
  // FailedPrecondition when the bank's seq is not turn.index.
  absl::Status ApplyTurn(const std::string& bank, const TurnContext& turn, BankBuildStats* stats);

 private:
  struct Impl;  // defined in bank_builder.cc
  explicit BankBuilder(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace memr1::actor
