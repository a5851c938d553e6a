// Trajectory ingest end to end on 127.0.0.1: TrajectorySender (actor) -> TrajectoryIngest
// service -> IngestBuffer (learner). Whole units, Take, refusals, broken streams, flow control
// and the job token. Every wait is bounded; nothing asserts wall-clock time.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actor/trajectory_sender.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "learner/ingest_service.h"

namespace memr1::learner {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "ingest-token";
constexpr int64_t kVocab = 100;

v1::Trajectory MakeTrajectory(const std::string& id, int64_t version, int prompt = 12,
                              int response = 5) {
  v1::Trajectory trajectory;
  trajectory.set_id(id);
  for (int i = 0; i < prompt; ++i) trajectory.add_prompt_ids((i * 7) % kVocab);
  for (int i = 0; i < response; ++i) {
    trajectory.add_response_ids((i * 13 + 1) % kVocab);
    trajectory.add_behaviour_logprobs(-0.25f * (i + 1));
  }
  trajectory.set_policy_version(version);
  trajectory.set_reward(1.0);
  trajectory.set_group_id("g");
  return trajectory;
}

std::vector<v1::Trajectory> Unit(const std::string& prefix, int count, int64_t version) {
  std::vector<v1::Trajectory> out;
  for (int i = 0; i < count; ++i) out.push_back(MakeTrajectory(absl::StrCat(prefix, "/", i), version));
  return out;
}

std::vector<std::string> Ids(const std::vector<v1::Trajectory>& trajectories) {
  std::vector<std::string> ids;
  for (const auto& trajectory : trajectories) ids.push_back(trajectory.id());
  return ids;
}

double Rejected(const std::string& label) {
  return MetricsRegistry::Default()
      .GetCounter("memr1_learner_ingest_rejected_total",
                  "trajectory batches refused by the learner, by reason", {{"reason", label}})
      ->value();
}

// Polls `done` every millisecond, at most ~20 s (a bound, not a timing assertion).
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 20000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

class IngestTest : public ::testing::Test {
 protected:
  void Start(int64_t max_trajectories = 1000,
             BehaviourLogprobs behaviour = BehaviourLogprobs::kRequired) {
    IngestOptions options;
    options.max_trajectories = max_trajectories;
    options.behaviour_logprobs = behaviour;
    options.vocab_size = kVocab;
    options.wait_slice = absl::Milliseconds(5);
    // Synchronous mode: a unit of step s must be sampled with version s.
    options.version_rule = [](int64_t step, int64_t version) {
      return version == step ? absl::OkStatus()
                             : absl::FailedPreconditionError(absl::StrCat(
                                   "step ", step, " needs version ", step));
    };
    options.unit_rule = [](const std::string& unit, int64_t) {
      return absl::StartsWith(unit, "rank1-")
                 ? absl::FailedPreconditionError(absl::StrCat(unit, " belongs to rank 1"))
                 : absl::OkStatus();
    };
    ASSERT_TRUE(options.Validate().ok());
    buffer_ = std::make_unique<IngestBuffer>(options);
    service_ = std::make_unique<TrajectoryIngestService>(buffer_.get(), kToken);
    GrpcServerOptions server_options;
    server_options.services = {service_.get()};
    absl::StatusOr<StartedGrpcServer> server = StartGrpcServer(server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    if (service_ != nullptr) service_->Close();
    if (buffer_ != nullptr) buffer_->Close();
    if (server_.server != nullptr) {
      server_.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
  }

  std::unique_ptr<actor::TrajectorySender> Sender(int window = 4,
                                                  const std::string& token = kToken) {
    actor::TrajectorySenderOptions options;
    options.address = server_.address;
    options.job_token = token;
    options.actor_id = "actor-0";
    options.max_in_flight = window;
    options.send_timeout = absl::Seconds(60);
    absl::StatusOr<std::unique_ptr<actor::TrajectorySender>> sender =
        actor::TrajectorySender::Create(options);
    EXPECT_TRUE(sender.ok()) << sender.status();
    return sender.ok() ? *std::move(sender) : nullptr;
  }

  // A raw stream, for what the sender never does (partial units, broken streams, bad numbers).
  struct RawStream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::TrajectoryBatch, v1::IngestAck>> rw;
  };
  std::unique_ptr<RawStream> Raw() {
    auto raw = std::make_unique<RawStream>();
    auto channel = MakeChannel(server_.address, ChannelOptions());
    EXPECT_TRUE(channel.ok());
    stub_ = v1::TrajectoryIngest::NewStub(*channel);
    AttachJobToken(&raw->context, kToken);
    raw->rw = stub_->Stream(&raw->context);
    return raw;
  }
  static v1::TrajectoryBatch Batch(int64_t sequence, const std::string& unit, int attempt,
                                   int64_t step, std::vector<v1::Trajectory> trajectories,
                                   bool last) {
    v1::TrajectoryBatch batch;
    batch.set_sequence(sequence);
    batch.set_unit_id(unit);
    batch.set_attempt(attempt);
    batch.set_step(step);
    batch.set_last_of_unit(last);
    for (auto& trajectory : trajectories) *batch.add_trajectories() = std::move(trajectory);
    return batch;
  }

  std::unique_ptr<IngestBuffer> buffer_;
  std::unique_ptr<TrajectoryIngestService> service_;
  StartedGrpcServer server_;
  std::unique_ptr<v1::TrajectoryIngest::Stub> stub_;
};

TEST_F(IngestTest, UnitIsWholeOnlyAfterItsLastBatch) {
  Start();
  auto raw = Raw();
  v1::IngestAck ack;
  ASSERT_TRUE(raw->rw->Write(Batch(1, "u1", 1, 3, Unit("u1a", 2, 3), false)));
  ASSERT_TRUE(raw->rw->Read(&ack));
  EXPECT_TRUE(ack.accepted()) << ack.reason();
  EXPECT_EQ(ack.sequence(), 1);
  EXPECT_FALSE(buffer_->IsWhole({"u1", 1}));
  EXPECT_EQ(buffer_->trajectories(), 2);
  absl::StatusOr<std::vector<v1::Trajectory>> early =
      buffer_->Take({{"u1", 1}}, absl::Milliseconds(20));
  ASSERT_EQ(early.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(early.status().message()), HasSubstr("u1#1 (partial)"));
  EXPECT_EQ(buffer_->trajectories(), 2);  // a failed Take removes nothing

  ASSERT_TRUE(raw->rw->Write(Batch(2, "u1", 1, 3, Unit("u1b", 1, 3), true)));
  ASSERT_TRUE(raw->rw->Read(&ack));
  EXPECT_TRUE(ack.accepted()) << ack.reason();
  EXPECT_EQ(ack.sequence(), 2);
  EXPECT_TRUE(buffer_->IsWhole({"u1", 1}));
  absl::StatusOr<std::vector<v1::Trajectory>> taken =
      buffer_->Take({{"u1", 1}}, absl::Seconds(10));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_THAT(Ids(*taken), ::testing::ElementsAre("u1a/0", "u1a/1", "u1b/0"));
  raw->rw->WritesDone();
  EXPECT_TRUE(raw->rw->Finish().ok());
}

TEST_F(IngestTest, TakeReturnsExactlyTheAcceptedAttemptsAndDropsTheOthers) {
  Start();
  auto sender = Sender();
  ASSERT_NE(sender, nullptr);
  ASSERT_TRUE(sender->SendUnit("u1", 1, 2, Unit("u1#1", 2, 2)).ok());
  // A small batch size splits the second attempt into three batches.
  absl::StatusOr<actor::UnitReceipt> second = sender->SendUnit("u1", 2, 2, Unit("u1#2", 3, 2), 1);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->batches, 3);
  EXPECT_EQ(second->trajectories, 3);
  ASSERT_TRUE(sender->SendUnit("u2", 1, 2, Unit("u2#1", 1, 2)).ok());
  ASSERT_TRUE(sender->SendUnit("u3", 1, 2, Unit("u3#1", 1, 2)).ok());
  // A resend of a whole attempt (a lost ack) is recognised, not buffered twice.
  absl::StatusOr<actor::UnitReceipt> again = sender->SendUnit("u2", 1, 2, Unit("u2#1", 1, 2));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_whole);
  EXPECT_EQ(buffer_->trajectories(), 7);

  absl::StatusOr<std::vector<v1::Trajectory>> taken =
      buffer_->Take({{"u1", 2}, {"u2", 1}}, absl::Seconds(10));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_THAT(Ids(*taken), ::testing::ElementsAre("u1#2/0", "u1#2/1", "u1#2/2", "u2#1/0"));
  // u1's other attempt is gone; u3 stays.
  EXPECT_FALSE(buffer_->IsWhole({"u1", 1}));
  EXPECT_TRUE(buffer_->IsWhole({"u3", 1}));
  EXPECT_EQ(buffer_->trajectories(), 1);

  // Late trajectories of a taken unit are refused, never counted twice.
  const double before = Rejected("unit_taken");
  absl::StatusOr<actor::UnitReceipt> late = sender->SendUnit("u1", 3, 2, Unit("u1#3", 1, 2));
  ASSERT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("unit_taken"));
  EXPECT_EQ(Rejected("unit_taken"), before + 1);
  EXPECT_EQ(buffer_->trajectories(), 1);

  // A unit listed twice is a caller error; nothing is removed.
  EXPECT_EQ(buffer_->Take({{"u3", 1}, {"u3", 2}}, absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // DropStep forgets the step's units and tombstones.
  EXPECT_EQ(buffer_->DropStep(2), 1);
  EXPECT_EQ(buffer_->trajectories(), 0);
  EXPECT_TRUE(sender->SendUnit("u1", 4, 2, Unit("u1#4", 1, 2)).ok());
}

TEST_F(IngestTest, RefusedBatchesKeepNothingAndAreCountedByReason) {
  Start();
  auto sender = Sender();
  ASSERT_NE(sender, nullptr);
  struct Case {
    std::string label;
    std::string unit;
    std::vector<v1::Trajectory> trajectories;
  };
  std::vector<v1::Trajectory> bad_token = Unit("bad", 2, 4);
  bad_token[1].set_response_ids(2, 500);  // beyond the vocabulary
  std::vector<v1::Trajectory> stale = Unit("stale", 2, 4);
  stale[1].set_policy_version(3);
  const std::vector<Case> cases = {
      {"policy_version", "u-stale", stale},
      {"invalid_trajectory", "u-bad", bad_token},
      {"unit", "rank1-u", Unit("r1", 1, 4)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    const double before = Rejected(c.label);
    absl::StatusOr<actor::UnitReceipt> receipt = sender->SendUnit(c.unit, 1, 4, c.trajectories);
    ASSERT_EQ(receipt.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(receipt.status().message()), HasSubstr(c.label + ": unit " + c.unit));
    EXPECT_EQ(Rejected(c.label), before + 1);
    EXPECT_EQ(buffer_->trajectories(), 0);
    EXPECT_FALSE(buffer_->IsWhole({c.unit, 1}));
  }
  // A unit whose third batch is refused keeps nothing of its first two, although they were
  // accepted; the attempt can then be sent again (corrected).
  std::vector<v1::Trajectory> mixed = Unit("mixed", 4, 4);
  mixed[2].clear_behaviour_logprobs();
  absl::StatusOr<actor::UnitReceipt> receipt = sender->SendUnit("u-mixed", 1, 4, mixed, 1);
  ASSERT_EQ(receipt.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(receipt.status().message()), HasSubstr("behaviour_logprobs"));
  EXPECT_EQ(buffer_->trajectories(), 0);
  EXPECT_FALSE(buffer_->IsWhole({"u-mixed", 1}));
  receipt = sender->SendUnit("u-mixed", 1, 4, Unit("mixed", 4, 4), 1);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_TRUE(buffer_->IsWhole({"u-mixed", 1}));
  EXPECT_EQ(buffer_->trajectories(), 4);
}

// Supervised jobs (learner.algorithm SFT) take demonstrations without behaviour log-probs; RL
// jobs refuse them (above).
TEST_F(IngestTest, DemonstrationsWithoutLogprobsAreTakenWhenOptional) {
  Start(1000, BehaviourLogprobs::kOptional);
  auto sender = Sender();
  ASSERT_NE(sender, nullptr);
  std::vector<v1::Trajectory> demos = Unit("demo", 2, 4);
  for (v1::Trajectory& demo : demos) demo.clear_behaviour_logprobs();
  absl::StatusOr<actor::UnitReceipt> receipt = sender->SendUnit("u-demo", 1, 4, demos);
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_TRUE(buffer_->IsWhole({"u-demo", 1}));
}

TEST_F(IngestTest, OutOfOrderSequenceIsRefused) {
  Start();
  auto raw = Raw();
  const double before = Rejected("sequence");
  v1::IngestAck ack;
  ASSERT_TRUE(raw->rw->Write(Batch(5, "u1", 1, 0, Unit("x", 1, 0), true)));
  ASSERT_TRUE(raw->rw->Read(&ack));
  EXPECT_FALSE(ack.accepted());
  EXPECT_THAT(ack.reason(), HasSubstr("sequence"));
  EXPECT_EQ(Rejected("sequence"), before + 1);
  EXPECT_EQ(buffer_->trajectories(), 0);
  raw->rw->WritesDone();
  EXPECT_TRUE(raw->rw->Finish().ok());
}

TEST_F(IngestTest, StreamBrokenMidUnitLeavesTheUnitUnusable) {
  Start();
  const double before = Rejected("truncated_stream");
  {
    auto raw = Raw();
    v1::IngestAck ack;
    ASSERT_TRUE(raw->rw->Write(Batch(1, "u1", 1, 0, Unit("part", 3, 0), false)));
    ASSERT_TRUE(raw->rw->Read(&ack));
    ASSERT_TRUE(ack.accepted()) << ack.reason();
    EXPECT_EQ(buffer_->trajectories(), 3);
    raw->context.TryCancel();  // the actor dies mid-unit
    raw->rw->Finish();
  }
  ASSERT_TRUE(Eventually([&]() { return buffer_->trajectories() == 0; }));
  EXPECT_EQ(Rejected("truncated_stream"), before + 1);
  absl::StatusOr<std::vector<v1::Trajectory>> taken =
      buffer_->Take({{"u1", 1}}, absl::Milliseconds(20));
  ASSERT_EQ(taken.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(taken.status().message()), HasSubstr("u1#1 (nothing received)"));
  // The actor retries the unit on a new stream: whole, and only the new copy is there.
  auto sender = Sender();
  ASSERT_NE(sender, nullptr);
  ASSERT_TRUE(sender->SendUnit("u1", 1, 0, Unit("retry", 3, 0)).ok());
  taken = buffer_->Take({{"u1", 1}}, absl::Seconds(10));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_THAT(Ids(*taken), ::testing::ElementsAre("retry/0", "retry/1", "retry/2"));
}

TEST_F(IngestTest, FullBufferBlocksTheSenderUntilTakeFreesRoom) {
  Start(/*max_trajectories=*/4);
  auto sender = Sender(/*window=*/2);
  ASSERT_NE(sender, nullptr);
  ASSERT_TRUE(sender->SendUnit("a", 1, 0, Unit("a", 4, 0)).ok());
  ASSERT_EQ(buffer_->trajectories(), 4);

  std::atomic<bool> returned{false};
  absl::StatusOr<actor::UnitReceipt> receipt_b;
  // Three one-trajectory batches: the first waits in the learner for room, the second fills the
  // window of two, the third cannot be written.
  std::thread send_b([&]() {
    receipt_b = sender->SendUnit("b", 1, 0, Unit("b", 3, 0), /*max_batch_bytes=*/1);
    returned = true;
  });
  ASSERT_TRUE(Eventually([&]() { return buffer_->waiting() == 1 && sender->in_flight() == 2; }));
  EXPECT_FALSE(returned.load());
  EXPECT_FALSE(buffer_->IsWhole({"b", 1}));
  EXPECT_EQ(buffer_->trajectories(), 4);

  absl::StatusOr<std::vector<v1::Trajectory>> taken = buffer_->Take({{"a", 1}}, absl::Seconds(10));
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->size(), 4u);
  send_b.join();
  ASSERT_TRUE(receipt_b.ok()) << receipt_b.status();
  EXPECT_EQ(receipt_b->batches, 3);
  EXPECT_TRUE(buffer_->IsWhole({"b", 1}));
  EXPECT_EQ(buffer_->trajectories(), 3);
}

TEST_F(IngestTest, StreamWithoutTheJobTokenIsUnauthenticated) {
  Start();
  const double before = Rejected("unauthenticated");
  auto sender = Sender(4, /*token=*/"");
  ASSERT_NE(sender, nullptr);
  absl::StatusOr<actor::UnitReceipt> receipt = sender->SendUnit("u1", 1, 0, Unit("x", 1, 0));
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kUnauthenticated) << receipt.status();
  EXPECT_EQ(Rejected("unauthenticated"), before + 1);
  EXPECT_EQ(buffer_->trajectories(), 0);
}

TEST_F(IngestTest, CloseUnblocksSenderAndLearner) {
  Start(/*max_trajectories=*/1);
  auto sender = Sender(1);
  ASSERT_NE(sender, nullptr);
  ASSERT_TRUE(sender->SendUnit("a", 1, 0, Unit("a", 1, 0)).ok());
  absl::StatusOr<actor::UnitReceipt> receipt;
  std::thread send_b([&]() { receipt = sender->SendUnit("b", 1, 0, Unit("b", 1, 0)); });
  ASSERT_TRUE(Eventually([&]() { return buffer_->waiting() == 1; }));
  sender->Close();
  send_b.join();
  EXPECT_FALSE(receipt.ok());
  EXPECT_EQ(receipt.status().code(), absl::StatusCode::kCancelled) << receipt.status();
  // The learner side notices the cancelled stream and drops nothing it had.
  ASSERT_TRUE(Eventually([&]() { return buffer_->waiting() == 0; }));
  EXPECT_TRUE(buffer_->IsWhole({"a", 1}));
  EXPECT_FALSE(buffer_->IsWhole({"b", 1}));
}

}  // namespace
}  // namespace memr1::learner
