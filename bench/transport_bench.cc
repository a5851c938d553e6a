// Transport benchmark (docs/performance.md, "Transport"): actor <-> learner traffic on
// 127.0.0.1 against a raw gRPC stream carrying the same bytes, measured in the same run.
//
//   build/bench/bench_transport [units] [weight_mb]
//
// 1. Trajectory streaming: `units` GRPO groups of 8 realistic trajectories (1024 prompt ids,
//    200 response ids with behaviour log-probs; ids drawn from a 150k vocabulary) sent with
//    TrajectorySender::SendUnit through TrajectoryIngest into an IngestBuffer that a learner
//    thread drains with Take (validation included), with 1 and 4 sending threads; baseline:
//    Echo.EchoStream with ack_only, one message per unit carrying the serialized batch.
// 2. Weight sync of a ~`weight_mb` MB model: publish (serialise + SHA-256), fetch in 1 MiB
//    chunks, verify, load into a LocalPolicy of that size; and the same for raw bytes (publish
//    + fetch + verify only); baseline: the same bytes as 1 MiB ack_only EchoStream messages.
// Every phase is a fixed amount of work; a learner that does not keep up fails the bench
// after a bounded wait. Prints a markdown table.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "actor/local_policy.h"
#include "actor/trajectory_sender.h"
#include "actor/weight_client.h"
#include "common/allocator.h"
#include "common/grpc_util.h"
#include "common/status_macros.h"
#include "learner/ingest_service.h"
#include "learner/weight_publisher.h"
#include "llm/bpe_trainer.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/model_config.h"
#include "llm/model_init.h"
#include "llm/safetensors_buffer.h"
#include "memr1/v1/echo.grpc.pb.h"
#include "memstore/echo_service.h"

namespace {

using namespace memr1;

constexpr char kToken[] = "bench-token";
constexpr int kGroup = 8;
constexpr int kPromptIds = 1024;
constexpr int kResponseIds = 200;

double Seconds(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

[[noreturn]] void Fail(const absl::Status& status, const char* what) {
  std::fprintf(stderr, "bench_transport: %s: %s\n", what, status.ToString().c_str());
  std::exit(1);
}
#define CHECK_OK(expr, what)                     \
  do {                                           \
    const absl::Status s_ = (expr);              \
    if (!s_.ok()) Fail(s_, what);                \
  } while (false)

std::vector<v1::Trajectory> Group(int unit, std::mt19937* rng) {
  std::uniform_int_distribution<int> id(0, 150'000);
  std::uniform_real_distribution<float> logprob(-8.0f, 0.0f);
  std::vector<v1::Trajectory> group;
  for (int m = 0; m < kGroup; ++m) {
    v1::Trajectory t;
    t.set_id(absl::StrCat("u", unit, "/", m));
    for (int i = 0; i < kPromptIds; ++i) t.add_prompt_ids(id(*rng));
    for (int i = 0; i < kResponseIds; ++i) {
      t.add_response_ids(id(*rng));
      t.add_behaviour_logprobs(logprob(*rng));
    }
    t.set_policy_version(0);
    t.set_reward(m % 2);
    t.set_group_id(absl::StrCat("u", unit));
    t.set_agent(v1::AGENT_KIND_ANSWER_AGENT);
    group.push_back(std::move(t));
  }
  return group;
}

// One bidi EchoStream moving `payloads` (ack_only): a writer and a reader thread, as fast as
// flow control allows. Returns seconds.
double EchoStreamSeconds(const std::string& address, const std::vector<std::string>& payloads) {
  auto channel = MakeChannel(address, ChannelOptions());
  if (!channel.ok()) Fail(channel.status(), "channel");
  auto stub = v1::Echo::NewStub(*channel);
  grpc::ClientContext context;
  AttachJobToken(&context, kToken);
  const absl::Time start = absl::Now();
  auto stream = stub->EchoStream(&context);
  std::thread reader([&]() {
    v1::EchoReply reply;
    size_t n = 0;
    while (n < payloads.size() && stream->Read(&reply)) ++n;
  });
  v1::EchoRequest request;
  request.set_ack_only(true);
  for (const std::string& payload : payloads) {
    request.set_payload(payload);
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) Fail(absl::InternalError(status.error_message()), "echo stream");
  return Seconds(start);
}

struct Row {
  std::string what;
  std::string rate;
  std::string baseline;
  std::string fraction;
};

void StreamingRows(int units, std::vector<Row>* rows) {
  std::mt19937 rng(1);
  std::vector<std::vector<v1::Trajectory>> groups;
  std::vector<std::string> payloads;
  double bytes = 0;
  for (int u = 0; u < units; ++u) {
    groups.push_back(Group(u, &rng));
    v1::TrajectoryBatch batch;
    batch.set_sequence(u + 1);
    batch.set_unit_id(absl::StrCat("u", u));
    batch.set_last_of_unit(true);
    for (const auto& t : groups.back()) *batch.add_trajectories() = t;
    payloads.push_back(batch.SerializeAsString());
    bytes += static_cast<double>(payloads.back().size());
  }
  const double trajectories = static_cast<double>(units) * kGroup;

  memstore::EchoService echo(kToken);
  for (int threads : {1, 4}) {
    learner::IngestOptions options;
    options.max_trajectories = 64 * kGroup;  // room for a few steps' worth, as a learner has
    options.vocab_size = 151'000;
    learner::IngestBuffer buffer(options);
    learner::TrajectoryIngestService ingest(&buffer, kToken);
    GrpcServerOptions server_options;
    server_options.services = {&ingest, &echo};
    absl::StatusOr<StartedGrpcServer> server = StartGrpcServer(server_options);
    if (!server.ok()) Fail(server.status(), "server");

    actor::TrajectorySenderOptions sender_options;
    sender_options.address = server->address;
    sender_options.job_token = kToken;
    sender_options.actor_id = "bench";
    sender_options.max_in_flight = 8;
    sender_options.send_timeout = absl::Minutes(2);
    auto sender = actor::TrajectorySender::Create(sender_options);
    if (!sender.ok()) Fail(sender.status(), "sender");
    // Warm up the connection.
    CHECK_OK((*sender)->SendUnit("warmup", 0, 0, groups[0]).status(), "warmup");
    CHECK_OK(buffer.Take({{"warmup", 0}}, absl::Seconds(30)).status(), "warmup take");

    // Rounds alternate between memr1 and the baseline, best of each, so that a burst of load
    // from elsewhere on the machine does not land on one side only.
    double ingest_s = 1e9;
    double echo_s = 1e9;
    for (int round = 0; round < 3; ++round) {
      const auto unit_id = [round](int u) { return absl::StrCat("r", round, "-u", u); };
      const absl::Time start = absl::Now();
      // The learner drains units in order, as it would assemble a batch.
      std::thread learner_thread([&]() {
        for (int u = 0; u < units; ++u) {
          CHECK_OK(buffer.Take({{unit_id(u), 0}}, absl::Minutes(2)).status(), "take");
        }
      });
      std::vector<std::thread> senders;
      for (int k = 0; k < threads; ++k) {
        senders.emplace_back([&, k]() {
          for (int u = k; u < units; u += threads) {
            CHECK_OK((*sender)->SendUnit(unit_id(u), 0, 0, groups[u]).status(), "send");
          }
        });
      }
      for (auto& t : senders) t.join();
      learner_thread.join();
      ingest_s = std::min(ingest_s, Seconds(start));
      echo_s = std::min(echo_s, EchoStreamSeconds(server->address, payloads));
    }
    (*sender)->Close();
    server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    rows->push_back(Row{
        absl::StrFormat("trajectory stream, %d sender thread%s (%d units x %d, %.1f KB each)",
                        threads, threads == 1 ? "" : "s", units, kGroup,
                        bytes / trajectories / 1024),
        absl::StrFormat("%.0f traj/s, %.1f MB/s", trajectories / ingest_s, bytes / ingest_s / 1e6),
        absl::StrFormat("%.0f traj/s, %.1f MB/s", trajectories / echo_s, bytes / echo_s / 1e6),
        absl::StrFormat("%.2f", echo_s / ingest_s)});
  }
}

// A Qwen2-shaped model of about `mb` MB in F32, with a trained tokenizer, in `dir`.
absl::StatusOr<std::unique_ptr<llm::CausalLM>> WriteModel(const std::string& dir, double mb,
                                                          uint64_t seed) {
  llm::BpeTrainerOptions tokenizer_options;
  tokenizer_options.vocab_size = 600;
  tokenizer_options.min_frequency = 1;
  MEMR1_ASSIGN_OR_RETURN(llm::TrainedTokenizer trained,
                         llm::TrainBpe({"Where does Maya live?", "She moved to Lisbon in June.",
                                        "**Answer:** Lisbon"},
                                       tokenizer_options));
  MEMR1_RETURN_IF_ERROR(llm::WriteTrainedTokenizer(trained, dir));
  llm::ModelConfig config;
  config.arch = llm::Architecture::kQwen2;
  config.vocab_size = trained.vocab_size;
  config.hidden_size = 640;
  config.intermediate_size = 1792;
  config.num_attention_heads = 10;
  config.num_key_value_heads = 2;
  config.head_dim = 64;
  config.max_position_embeddings = 4096;
  config.attention_bias = true;
  config.eos_token_ids = {trained.vocab_size - 1};
  const double per_layer = 4.0 * (640.0 * 640 * 2 + 640.0 * 128 * 2 + 3 * 640.0 * 1792);
  config.num_hidden_layers = std::max(1, static_cast<int>(mb * 1e6 / per_layer + 0.5));
  MEMR1_ASSIGN_OR_RETURN(auto model, llm::CausalLM::Create(config, c10::Device("cpu"), c10::kFloat));
  llm::InitOptions init;
  init.seed = seed;
  MEMR1_RETURN_IF_ERROR(llm::InitializeRandom(model.get(), init));
  MEMR1_RETURN_IF_ERROR(llm::SaveCausalLM(*model, dir));
  return model;
}

void WeightRows(double mb, std::vector<Row>* rows) {
  char pattern[] = "/tmp/memr1_bench_transport_XXXXXX";
  const std::string dir = mkdtemp(pattern);
  auto learner_model = WriteModel(dir + "/learner", mb, 2);
  if (!learner_model.ok()) Fail(learner_model.status(), "model");
  auto actor_model = WriteModel(dir + "/actor", mb, 1);
  if (!actor_model.ok()) Fail(actor_model.status(), "model");
  actor_model->reset();  // the policy loads its own copy

  learner::WeightPublisher publisher;
  learner::WeightsService weights(&publisher, kToken);
  memstore::EchoService echo(kToken);
  GrpcServerOptions server_options;
  server_options.services = {&weights, &echo};
  absl::StatusOr<StartedGrpcServer> server = StartGrpcServer(server_options);
  if (!server.ok()) Fail(server.status(), "server");

  actor::LocalPolicyOptions policy_options;
  policy_options.model_dir = dir + "/actor";
  policy_options.max_batch_size = 1;
  policy_options.max_prompt_tokens = 64;
  policy_options.max_response_tokens = 16;
  auto policy = actor::LocalPolicy::Create(policy_options);
  if (!policy.ok()) Fail(policy.status(), "policy");
  actor::WeightClientOptions client_options;
  client_options.address = server->address;
  client_options.job_token = kToken;
  client_options.scratch_dir = dir;
  auto client = actor::WeightClient::Create(client_options);
  if (!client.ok()) Fail(client.status(), "client");

  constexpr int kReps = 3;
  double serialize_s = 1e9, publish_s = 1e9, fetch_s = 1e9, apply_s = 1e9, total_s = 1e9;
  double raw_s = 1e9, echo_s = 1e9;
  size_t bytes = 0;
  int64_t version = 0;
  for (int rep = 0; rep < kReps; ++rep) {
    const absl::Time t0 = absl::Now();
    auto serialized = llm::SerializeCausalLMWeights(**learner_model);
    if (!serialized.ok()) Fail(serialized.status(), "serialize");
    bytes = serialized->size();
    const absl::Time t1 = absl::Now();
    CHECK_OK(publisher.Publish(++version, *std::move(serialized)), "publish");
    const absl::Time t2 = absl::Now();
    auto fetched = (*client)->Fetch(version);
    if (!fetched.ok()) Fail(fetched.status(), "fetch");
    const absl::Time t3 = absl::Now();
    CHECK_OK((*client)->Apply(*fetched, policy->get()), "apply");
    const absl::Time t4 = absl::Now();
    serialize_s = std::min(serialize_s, absl::ToDoubleSeconds(t1 - t0));
    publish_s = std::min(publish_s, absl::ToDoubleSeconds(t2 - t1));
    fetch_s = std::min(fetch_s, absl::ToDoubleSeconds(t3 - t2));
    apply_s = std::min(apply_s, absl::ToDoubleSeconds(t4 - t3));
    total_s = std::min(total_s, absl::ToDoubleSeconds(t4 - t0));
  }
  std::string raw(bytes, '\0');
  std::mt19937 rng(3);
  for (char& c : raw) c = static_cast<char>(rng() & 0xff);
  std::vector<std::string> chunks;
  for (size_t offset = 0; offset < raw.size(); offset += 1 << 20) {
    chunks.push_back(raw.substr(offset, 1 << 20));
  }
  // The FetchWeights stream alone: chunks read and dropped (no assembly, no hash).
  double stream_s = 1e9;
  {
    auto channel = MakeChannel(server->address, ChannelOptions());
    if (!channel.ok()) Fail(channel.status(), "channel");
    auto stub = v1::Weights::NewStub(*channel);
    for (int rep = 0; rep < kReps; ++rep) {
      grpc::ClientContext context;
      AttachJobToken(&context, kToken);
      v1::FetchWeightsRequest request;
      request.set_version(version);
      const absl::Time t0 = absl::Now();
      auto reader = stub->FetchWeights(&context, request);
      v1::WeightChunk chunk;
      while (reader->Read(&chunk)) {
      }
      if (!reader->Finish().ok()) Fail(absl::InternalError("fetch stream"), "fetch stream");
      stream_s = std::min(stream_s, Seconds(t0));
    }
  }
  for (int rep = 0; rep < kReps; ++rep) {
    std::string copy = raw;  // Publish takes ownership; the copy is not part of the sync
    const absl::Time t0 = absl::Now();
    CHECK_OK(publisher.Publish(++version, std::move(copy), "raw"), "publish raw");
    auto fetched = (*client)->Fetch(version);
    if (!fetched.ok()) Fail(fetched.status(), "fetch raw");
    raw_s = std::min(raw_s, Seconds(t0));
    echo_s = std::min(echo_s, EchoStreamSeconds(server->address, chunks));
  }
  server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  const double mbytes = static_cast<double>(bytes) / 1e6;
  // Whole transfers are compared with the raw stream; their parts show their share of the
  // model sync instead.
  auto row = [&](const std::string& what, double s) {
    const bool part = what.rfind("  ", 0) == 0;
    rows->push_back(Row{what, absl::StrFormat("%.3f s (%.0f MB/s)", s, mbytes / s),
                        part ? "" : absl::StrFormat("%.3f s (%.0f MB/s)", echo_s, mbytes / echo_s),
                        part ? absl::StrFormat("(%.0f%% of the sync)", 100 * s / total_s)
                             : absl::StrFormat("%.2f", echo_s / s)});
  };
  row(absl::StrFormat("weight sync %.0f MB model: serialise + publish + fetch + verify + load",
                      mbytes),
      total_s);
  row("  of which serialise (parameters -> safetensors bytes)", serialize_s);
  row("  of which publish (SHA-256)", publish_s);
  row("  of which fetch + verify (1 MiB chunks, SHA-256)", fetch_s);
  row("  of which load into the LocalPolicy", apply_s);
  row("  FetchWeights stream alone (chunks read and dropped)", stream_s);
  row(absl::StrFormat("weight sync %.0f MB raw bytes: publish + fetch + verify", mbytes), raw_s);
}

}  // namespace

int main(int argc, char** argv) {
  // As in the memr1 binary: freed buffers stay in the process (common/allocator.h).
  TuneMallocForTensors();
  const int units = argc > 1 ? std::max(1, std::atoi(argv[1])) : 400;
  const double mb = argc > 2 ? std::max(1.0, std::atof(argv[2])) : 100.0;
  std::vector<Row> rows;
  StreamingRows(units, &rows);
  WeightRows(mb, &rows);
  std::printf("| transfer on 127.0.0.1 | memr1 | raw EchoStream, same bytes | fraction of raw |\n");
  std::printf("|---|---|---|---|\n");
  for (const Row& row : rows) {
    std::printf("| %s | %s | %s | %s |\n", row.what.c_str(), row.rate.c_str(),
                row.baseline.c_str(), row.fraction.c_str());
  }
  return 0;
}
