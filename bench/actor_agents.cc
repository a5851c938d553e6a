// Actor benchmarks (docs/performance.md, "Actor"): what batching buys the agents on the local
// engine, measured as ratios within one run.
//
//  1. Bank building: BankBuilder over C conversations in lockstep (turn i of every conversation
//     in one policy batch) against building the same banks one conversation at a time.
//  2. Answering: Answer Agent requests in one batch of Q against Q single-request calls.
//  3. Parsing: ParseManagerOutput of a typical 3-operation output against nlohmann::json::parse
//     of the same JSON alone (the cost of finding, checking and mapping on top of parsing).
//
// The model is a tiny random Qwen2 (the same shape the tests use, larger hidden size), so its
// outputs are noise of a fixed length: every call generates max_tokens tokens, which keeps the
// compared runs doing identical work.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "actor/answer_agent.h"
#include "actor/bank_builder.h"
#include "actor/local_policy.h"
#include "actor/memory_manager.h"
#include "actor/prompts.h"
#include "actor/synthetic_world.h"
#include "actor/turns.h"
#include "common/allocator.h"
#include "tests/actor/actor_testing.h"
#include "tests/actor/tiny_model.h"

namespace memr1::actor {
namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

#define BENCH_CHECK_OK(expr)                                                  \
  do {                                                                        \
    const absl::Status status_ = (expr);                                      \
    if (!status_.ok()) {                                                      \
      std::fprintf(stderr, "%s: %s\n", #expr, status_.ToString().c_str());    \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)

int Run() {
  testing::TempDir dir;
  SyntheticWorldOptions world_options;
  world_options.seed = 11;
  world_options.conversations = 4;
  world_options.sessions_per_conversation = 2;
  world_options.turns_per_session = 6;
  world_options.questions_per_conversation = 8;
  auto world = GenerateSyntheticWorld(world_options);
  BENCH_CHECK_OK(world.status());
  std::vector<std::string> corpus;
  for (const Conversation& c : world->conversations) {
    for (const TurnContext& turn : FlattenTurns(c)) corpus.push_back(turn.text);
  }
  BENCH_CHECK_OK(testing::WriteTinyModel(dir.Sub("model"), corpus, 1, 800));

  LocalPolicyOptions options;
  options.model_dir = dir.Sub("model");
  options.max_batch_size = 16;
  options.max_prompt_tokens = 3072;
  options.max_response_tokens = 24;
  auto policy = LocalPolicy::Create(options);
  BENCH_CHECK_OK(policy.status());
  auto memstore = testing::StartTestMemstore(dir.Sub("memstore"));
  BENCH_CHECK_OK(memstore.status());
  v1::ActorConfig actor_config;
  auto templates = PromptTemplates::FromConfig(actor_config);
  BENCH_CHECK_OK(templates.status());

  BankBuildOptions build;
  build.llm_extraction = false;
  build.manager_mode = ManagerMode::kPolicy;
  build.retrieve_k = 4;
  build.sampling.temperature = 0;
  build.sampling.max_tokens = 24;
  std::vector<const Conversation*> conversations;
  for (const Conversation& c : world->conversations) conversations.push_back(&c);
  int64_t turns = 0;
  for (const Conversation* c : conversations) turns += c->TurnCount();

  // 1. Lockstep vs one conversation at a time (distinct tags: no bank is reused).
  build.tag = "lockstep";
  auto lockstep = BankBuilder::Create(memstore->router.get(), nullptr, policy->get(),
                                      &*templates, build);
  BENCH_CHECK_OK(lockstep.status());
  auto start = std::chrono::steady_clock::now();
  BENCH_CHECK_OK((*lockstep)->Build(conversations).status());
  const double lockstep_s = Seconds(start);
  build.tag = "serial";
  auto serial = BankBuilder::Create(memstore->router.get(), nullptr, policy->get(), &*templates,
                                    build);
  BENCH_CHECK_OK(serial.status());
  start = std::chrono::steady_clock::now();
  for (const Conversation* c : conversations) {
    BENCH_CHECK_OK((*serial)->Build({c}).status());
  }
  const double serial_s = Seconds(start);

  // 2. Answers: one batch vs one request per call.
  auto banks = (*lockstep)->Build(conversations);
  BENCH_CHECK_OK(banks.status());
  std::vector<PolicyRequest> requests;
  SamplingOptions sampling;
  sampling.temperature = 0;
  sampling.max_tokens = 24;
  for (size_t i = 0; i < conversations.size(); ++i) {
    for (const QaItem& qa : conversations[i]->qa) {
      auto input = RetrieveForQuestion(*memstore->router, (*banks)[i].bank, 0, qa.question,
                                       conversations[i]->speaker_a, conversations[i]->speaker_b,
                                       10);
      BENCH_CHECK_OK(input.status());
      auto request = BuildAnswerRequest(*templates, *input, sampling, policy->get());
      BENCH_CHECK_OK(request.status());
      requests.push_back(request->request);
    }
  }
  start = std::chrono::steady_clock::now();
  BENCH_CHECK_OK((*policy)->Complete(requests).status());
  const double batched_s = Seconds(start);
  start = std::chrono::steady_clock::now();
  for (const PolicyRequest& request : requests) {
    BENCH_CHECK_OK((*policy)->Complete({request}).status());
  }
  const double single_s = Seconds(start);

  // 3. Parsing.
  const std::string json =
      R"({"memory": [{"id": "0", "text": "Maya lives in Lisbon", "event": "UPDATE",)"
      R"( "old_memory": "Maya lives in Porto"}, {"id": "1", "text": "", "event": "NONE"},)"
      R"( {"id": "x", "text": "Sam has a dog named Rex", "event": "ADD"}]})";
  const std::string output = "Here is the update:\n```json\n" + json + "\n```\nDone.";
  constexpr int kParses = 20000;
  start = std::chrono::steady_clock::now();
  size_t ops = 0;
  for (int i = 0; i < kParses; ++i) ops += ParseManagerOutput(output, 4).value->size();
  const double parse_s = Seconds(start);
  start = std::chrono::steady_clock::now();
  size_t items = 0;
  for (int i = 0; i < kParses; ++i) items += nlohmann::json::parse(json)["memory"].size();
  const double json_s = Seconds(start);

  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| bank building, %lld turns of %zu conversations: lockstep | %.2f s (%.1f turns/s) |\n",
              static_cast<long long>(turns), conversations.size(), lockstep_s, turns / lockstep_s);
  std::printf("| bank building: one conversation at a time | %.2f s (%.1f turns/s) |\n", serial_s,
              turns / serial_s);
  std::printf("| lockstep speed-up | %.2fx |\n", serial_s / lockstep_s);
  std::printf("| %zu answers in one batch | %.2f s (%.1f answers/s) |\n", requests.size(),
              batched_s, requests.size() / batched_s);
  std::printf("| the same answers one per call | %.2f s (%.1f answers/s) |\n", single_s,
              requests.size() / single_s);
  std::printf("| batching speed-up | %.2fx |\n", single_s / batched_s);
  std::printf("| ParseManagerOutput (fenced, 3 ops) | %.2f us |\n", 1e6 * parse_s / kParses);
  std::printf("| nlohmann::json::parse of the bare JSON | %.2f us |\n", 1e6 * json_s / kParses);
  std::printf("| parse overhead ratio | %.2fx |\n", parse_s / json_s);
  return ops == 0 || items == 0 ? 1 : 0;
}

}  // namespace
}  // namespace memr1::actor

// As in the memr1 binary (common/allocator.h); BENCH_GLIBC_DEFAULTS=1 measures without it.
int main() {
  if (std::getenv("BENCH_GLIBC_DEFAULTS") == nullptr) memr1::TuneMallocForTensors();
  return memr1::actor::Run();
}
