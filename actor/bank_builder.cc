#include "actor/bank_builder.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "actor/fact_extraction.h"
#include "actor/memory_manager.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "common/string_view.h"

namespace memr1::actor {
namespace {

constexpr size_t kMaxComponentBytes = 96;
constexpr size_t kMaxTagBytes = 32;

bool IsAsciiAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool IsBankNameChar(char c) {
  return IsAsciiAlnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

std::string Hex(uint64_t value, int digits) {
  std::string hex = absl::StrFormat("%016x", value);
  return hex.substr(hex.size() - digits);
}

// A policy's Describe() without its trailing " (v<N>)": the identity of the model, not of its
// weights' version (the version has its own part of the bank name).
std::string IdentityOf(const TextPolicy& policy) {
  std::string text = policy.Describe();
  const size_t at = text.rfind(" (v");
  if (at != std::string::npos) text.resize(at);
  return text;
}

void CountAppliedOps(const std::vector<v1::Operation>& ops, BankBuildStats* stats) {
  for (const v1::Operation& op : ops) {
    ++stats->ops[op.event()];
    MetricsRegistry::Default()
        .GetCounter("memr1_actor_bank_ops_total",
                    "Memory operations applied by bank building, by event.",
                    {{"event", v1::MemoryEvent_Name(op.event())}})
        ->Increment();
  }
}

}  // namespace

std::string SanitizeBankComponent(std::string_view text) {
  if (text.empty()) return "_";
  std::string out;
  out.reserve(std::min(text.size(), kMaxComponentBytes));
  bool changed = false;
  for (char c : text) {
    if (out.size() == kMaxComponentBytes) {
      changed = true;
      break;
    }
    if (IsBankNameChar(c)) {
      out.push_back(c);
    } else {
      out.push_back('_');
      changed = true;
    }
  }
  if (changed) {
    absl::StrAppend(&out, "-h", Hex(memstore::StableHash(ToAbsl(text)), 8));
  }
  return out;
}

void CountFormatFailure(std::string_view agent, FormatFailureKind kind) {
  MetricsRegistry::Default()
      .GetCounter("memr1_actor_format_failures_total",
                  "Agent outputs that did not parse (nothing of them was applied), by agent and "
                  "failure kind.",
                  {{"agent", std::string(agent)}, {"kind", FormatFailureName(kind)}})
      ->Increment();
}

absl::Status BankBuildOptions::Validate() const {
  if (retrieve_k < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bank building: retrieve_k must be >= 1, got ", retrieve_k));
  }
  if (max_facts_per_turn < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bank building: max_facts_per_turn must be >= 1, got ", max_facts_per_turn));
  }
  if (ttl_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bank building: ttl_seconds must be >= 0, got ", ttl_seconds));
  }
  if (tag.empty() || tag.size() > kMaxTagBytes || !IsAsciiAlnum(tag[0]) ||
      !std::all_of(tag.begin(), tag.end(),
                   [](char c) { return IsAsciiAlnum(c) || c == '_' || c == '-'; })) {
    return absl::InvalidArgumentError(
        absl::StrCat("bank building: tag '", ToAbsl(tag),
                     "' must be 1-32 characters of [A-Za-z0-9_-] starting with a letter or digit"));
  }
  if (absl::Status status = sampling.Validate(); !status.ok()) {
    return Annotate(status, "bank building");
  }
  return absl::OkStatus();
}

void BankBuildStats::Merge(const BankBuildStats& other) {
  turns += other.turns;
  facts += other.facts;
  facts_dropped += other.facts_dropped;
  extraction_failures += other.extraction_failures;
  manager_calls += other.manager_calls;
  manager_failures += other.manager_failures;
  for (const auto& [event, count] : other.ops) ops[event] += count;
  for (const auto& [kind, count] : other.failures_by_kind) failures_by_kind[kind] += count;
}

struct BankBuilder::Impl {
  const memstore::ShardRouter* router;
  TextPolicy* extraction_policy;
  TextPolicy* manager_policy;
  const PromptTemplates* templates;
  BankBuildOptions options;

  // One turn of one bank in a lockstep batch.
  struct Item {
    std::string bank;
    const TurnContext* turn;
    BankBuildStats* stats;
    std::vector<std::string> facts;
    ManagerInput input;
    std::vector<v1::Operation> ops;
  };

  std::string Fingerprint() const;
  absl::Status RunBatch(std::vector<Item>& items);
};

std::string BankBuilder::Impl::Fingerprint() const {
  // Length-prefixed fields, so no two different settings concatenate to the same text.
  std::string text;
  auto add = [&text](std::string_view field) {
    absl::StrAppend(&text, field.size(), ":", ToAbsl(field), ";");
  };
  add("bank-fingerprint-1");
  add(options.llm_extraction ? "extraction=llm" : "extraction=identity");
  add(options.manager_mode == ManagerMode::kPolicy ? "manager=policy" : "manager=add-only");
  add(absl::StrCat("retrieve_k=", options.retrieve_k));
  add(absl::StrCat("max_facts=", options.max_facts_per_turn));
  add(absl::StrCat("tag=", ToAbsl(options.tag)));
  const bool uses_extraction = options.llm_extraction;
  const bool uses_manager = options.manager_mode == ManagerMode::kPolicy;
  if (uses_extraction || uses_manager) {
    const SamplingOptions& s = options.sampling;
    add(absl::StrCat("sampling=", s.temperature, ",", s.top_p, ",", s.top_k, ",", s.max_tokens, ",",
                     s.seed));
  }
  if (uses_extraction) {
    add(templates->extraction);
    add(IdentityOf(*extraction_policy));
  }
  if (uses_manager) {
    add(templates->manager);
    add(IdentityOf(*manager_policy));
  }
  return Hex(memstore::StableHash(text), 16);
}

absl::Status BankBuilder::Impl::RunBatch(std::vector<Item>& items) {
  if (items.empty()) return absl::OkStatus();
  // 1. Facts: one extraction batch for every turn (the identity extractor needs no model).
  if (options.llm_extraction) {
    std::vector<PolicyRequest> requests;
    requests.reserve(items.size());
    for (const Item& item : items) {
      requests.push_back(BuildExtractionRequest(*templates, *item.turn, options.sampling));
    }
    absl::StatusOr<std::vector<Completion>> completions = extraction_policy->Complete(requests);
    if (!completions.ok()) {
      return Annotate(completions.status(),
                      absl::StrCat("fact extraction of turn ", items.front().turn->index, " (",
                                   items.size(), " conversations)"));
    }
    if (completions->size() != items.size()) {
      return absl::InternalError(absl::StrCat("fact extraction: the policy returned ",
                                              completions->size(), " completions for ",
                                              items.size(), " requests"));
    }
    for (size_t i = 0; i < items.size(); ++i) {
      Item& item = items[i];
      int dropped = 0;
      Parsed<std::vector<std::string>> facts =
          ParseFacts((*completions)[i].text, options.max_facts_per_turn, &dropped);
      if (!facts.ok()) {
        ++item.stats->extraction_failures;
        ++item.stats->failures_by_kind[FormatFailureName(facts.failure->kind)];
        CountFormatFailure("extraction", facts.failure->kind);
        MEMR1_LOG(DEBUG) << "bank " << item.bank << " turn " << item.turn->index
                         << ": extraction output rejected: " << facts.failure->detail;
        continue;
      }
      item.facts = *std::move(facts.value);
      item.stats->facts_dropped += dropped;
    }
  } else {
    for (Item& item : items) item.facts = {IdentityFact(*item.turn)};
  }

  // 2. Related memories as of each bank's current state (the state before this turn), then
  //    one manager batch for every turn that has facts.
  std::vector<Item*> deciding;
  for (Item& item : items) {
    item.stats->facts += static_cast<int64_t>(item.facts.size());
    if (item.facts.empty()) continue;
    item.input.turn = *item.turn;
    item.input.facts = item.facts;
    if (options.manager_mode == ManagerMode::kAddOnly) {
      item.ops = AddOnlyOperations(item.input);
      continue;
    }
    absl::StatusOr<std::vector<ShownMemory>> shown =
        RetrieveRelated(*router, item.bank, /*as_of_seq=*/0, item.facts, options.retrieve_k);
    if (!shown.ok()) {
      return Annotate(shown.status(),
                      absl::StrCat("retrieving related memories from bank '", ToAbsl(item.bank),
                                   "' for turn ", item.turn->index));
    }
    item.input.shown = *std::move(shown);
    deciding.push_back(&item);
  }
  if (!deciding.empty()) {
    std::vector<PolicyRequest> requests;
    requests.reserve(deciding.size());
    for (const Item* item : deciding) {
      requests.push_back(BuildManagerRequest(*templates, item->input, options.sampling));
    }
    absl::StatusOr<std::vector<Completion>> completions = manager_policy->Complete(requests);
    if (!completions.ok()) {
      return Annotate(completions.status(),
                      absl::StrCat("memory manager on turn ", deciding.front()->turn->index, " (",
                                   deciding.size(), " conversations)"));
    }
    if (completions->size() != deciding.size()) {
      return absl::InternalError(absl::StrCat("memory manager: the policy returned ",
                                              completions->size(), " completions for ",
                                              deciding.size(), " requests"));
    }
    for (size_t i = 0; i < deciding.size(); ++i) {
      Item& item = *deciding[i];
      ++item.stats->manager_calls;
      Parsed<std::vector<ManagerOp>> parsed =
          ParseManagerOutput((*completions)[i].text, static_cast<int>(item.input.shown.size()));
      if (!parsed.ok()) {
        ++item.stats->manager_failures;
        ++item.stats->failures_by_kind[FormatFailureName(parsed.failure->kind)];
        CountFormatFailure("memory_manager", parsed.failure->kind);
        MEMR1_LOG(DEBUG) << "bank " << item.bank << " turn " << item.turn->index
                         << ": manager output rejected: " << parsed.failure->detail;
        continue;
      }
      item.ops = ToOperations(*parsed.value, item.input);
    }
  }

  // 3. One Apply per bank, even an empty one, so seq == turns done.
  for (Item& item : items) {
    v1::ApplyRequest request;
    request.set_bank(item.bank);
    request.set_request_id(absl::StrCat("turn-", item.turn->index));
    for (const v1::Operation& op : item.ops) *request.add_ops() = op;
    absl::StatusOr<v1::ApplyResponse> response = router->Apply(std::move(request));
    if (!response.ok()) {
      return Annotate(response.status(), absl::StrCat("applying turn ", item.turn->index,
                                                      " to bank '", ToAbsl(item.bank), "'"));
    }
    const uint64_t expected = static_cast<uint64_t>(item.turn->index) + 1;
    if (response->seq() != expected) {
      // Someone else writes to this bank: its seq no longer counts our turns.
      return absl::FailedPreconditionError(absl::StrCat(
          "bank '", ToAbsl(item.bank), "' is at seq ", response->seq(), " after turn ",
          item.turn->index, " (expected ", expected, "); is another writer using it?"));
    }
    if (!response->replayed()) CountAppliedOps(item.ops, item.stats);
    ++item.stats->turns;
  }
  return absl::OkStatus();
}

BankBuilder::BankBuilder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BankBuilder::~BankBuilder() = default;

absl::StatusOr<std::unique_ptr<BankBuilder>> BankBuilder::Create(
    const memstore::ShardRouter* router, TextPolicy* extraction_policy, TextPolicy* manager_policy,
    const PromptTemplates* templates, BankBuildOptions options) {
  if (router == nullptr) return absl::InvalidArgumentError("bank building needs a memstore router");
  if (templates == nullptr)
    return absl::InvalidArgumentError("bank building needs prompt templates");
  MEMR1_RETURN_IF_ERROR(options.Validate());
  if (options.llm_extraction && extraction_policy == nullptr) {
    return absl::InvalidArgumentError(
        "bank building with LLM fact extraction needs an extraction policy");
  }
  if (options.manager_mode == ManagerMode::kPolicy && manager_policy == nullptr) {
    return absl::InvalidArgumentError(
        "bank building with a policy memory manager needs a manager policy");
  }
  auto impl = std::make_unique<Impl>();
  impl->router = router;
  impl->extraction_policy = extraction_policy;
  impl->manager_policy = manager_policy;
  impl->templates = templates;
  impl->options = std::move(options);
  return std::unique_ptr<BankBuilder>(new BankBuilder(std::move(impl)));
}

std::string BankBuilder::BankName(std::string_view conversation_id) const {
  const int64_t version =
      impl_->options.manager_mode == ManagerMode::kPolicy ? impl_->manager_policy->version() : 0;
  return absl::StrCat(ToAbsl(impl_->options.tag), ".",
                      ToAbsl(SanitizeBankComponent(conversation_id)), ".", impl_->Fingerprint(),
                      ".v", version);
}

absl::StatusOr<int64_t> BankBuilder::TurnsLeft(
    absl::Span<const Conversation* const> conversations) const {
  int64_t left = 0;
  for (const Conversation* conversation : conversations) {
    const int64_t turns = static_cast<int64_t>(FlattenTurns(*conversation).size());
    const std::string bank = BankName(conversation->id);
    absl::StatusOr<v1::BankInfo> info = impl_->router->ForBank(bank).GetBank(bank);
    if (absl::IsNotFound(info.status())) {
      left += turns;
      continue;
    }
    if (!info.ok()) return Annotate(info.status(), absl::StrCat("bank '", ToAbsl(bank), "'"));
    left += std::max<int64_t>(0, turns - static_cast<int64_t>(info->seq()));
  }
  return left;
}

absl::StatusOr<std::vector<BuiltBank>> BankBuilder::Build(
    absl::Span<const Conversation* const> conversations, const BuildProgress& progress) {
  std::set<std::string> seen;
  for (size_t c = 0; c < conversations.size(); ++c) {
    if (conversations[c] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("bank building: conversation ", c, " is null"));
    }
    if (!seen.insert(conversations[c]->id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bank building: conversation id '", ToAbsl(conversations[c]->id), "' appears twice"));
    }
  }

  std::vector<BuiltBank> built(conversations.size());
  std::vector<std::vector<TurnContext>> turns(conversations.size());
  int64_t done = 0;
  int64_t total = 0;
  size_t max_turns = 0;
  for (size_t c = 0; c < conversations.size(); ++c) {
    const Conversation& conversation = *conversations[c];
    BuiltBank& bank = built[c];
    bank.conversation_id = conversation.id;
    bank.bank = BankName(conversation.id);
    turns[c] = FlattenTurns(conversation);
    const uint64_t turn_count = turns[c].size();
    memstore::MemstoreClient& client = impl_->router->ForBank(bank.bank);
    absl::StatusOr<v1::BankInfo> info = client.GetBank(bank.bank);
    if (absl::IsNotFound(info.status())) {
      v1::CreateBankRequest create;
      create.set_bank(bank.bank);
      create.set_ttl_seconds(impl_->options.ttl_seconds);
      info = impl_->router->CreateBank(create);
      // Another builder may have created it between our GetBank and CreateBank.
      if (absl::IsAlreadyExists(info.status())) info = client.GetBank(bank.bank);
    }
    if (!info.ok()) {
      return Annotate(info.status(),
                      absl::StrCat("opening bank '", ToAbsl(bank.bank), "' of conversation '",
                                   ToAbsl(conversation.id), "'"));
    }
    if (info->seq() > turn_count) {
      return absl::FailedPreconditionError(absl::StrCat(
          "bank '", ToAbsl(bank.bank), "' is at seq ", info->seq(), " but conversation '",
          ToAbsl(conversation.id), "' has only ", turn_count, " turns"));
    }
    bank.seq = info->seq();
    bank.reused = bank.seq == turn_count;
    done += static_cast<int64_t>(bank.seq);
    total += static_cast<int64_t>(turn_count);
    max_turns = std::max<size_t>(max_turns, turn_count);
  }
  if (progress) progress(done, total);

  // Lockstep: turn i of every conversation that still needs it, as one batch.
  size_t first = max_turns;
  for (const BuiltBank& bank : built) {
    if (!bank.reused) first = std::min<size_t>(first, bank.seq);
  }
  for (size_t i = first; i < max_turns; ++i) {
    std::vector<Impl::Item> items;
    std::vector<size_t> owners;
    for (size_t c = 0; c < built.size(); ++c) {
      if (built[c].seq > i || i >= turns[c].size()) continue;
      Impl::Item item;
      item.bank = built[c].bank;
      item.turn = &turns[c][i];
      item.stats = &built[c].stats;
      items.push_back(std::move(item));
      owners.push_back(c);
    }
    if (items.empty()) continue;
    MEMR1_RETURN_IF_ERROR(impl_->RunBatch(items));
    for (size_t c : owners) built[c].seq = i + 1;
    done += static_cast<int64_t>(items.size());
    if (progress) progress(done, total);
  }
  return built;
}

absl::Status BankBuilder::ApplyTurn(const std::string& bank, const TurnContext& turn,
                                    BankBuildStats* stats) {
  MEMR1_ASSIGN_OR_RETURN(const v1::BankInfo info, impl_->router->ForBank(bank).GetBank(bank));
  if (turn.index < 0 || info.seq() != static_cast<uint64_t>(turn.index)) {
    return absl::FailedPreconditionError(absl::StrCat("bank '", ToAbsl(bank), "' is at seq ",
                                                      info.seq(), ", not at turn ", turn.index));
  }
  BankBuildStats local;
  std::vector<Impl::Item> items(1);
  items[0].bank = bank;
  items[0].turn = &turn;
  items[0].stats = stats != nullptr ? stats : &local;
  return impl_->RunBatch(items);
}

}  // namespace memr1::actor
