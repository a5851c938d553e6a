// JobState with a fake clock over a real RocksDB in a temp dir: units and ranks, the SYNC
// barrier, ASYNC staleness, lease expiry and late completions, idempotence, StepUnits,
// checkpoints, DONE, a lost learner, and restarts from the stored state.

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "actor/episode_schedule.h"
#include "coordinator/job_state.h"
#include "coordinator/state_store.h"
#include "tests/coordinator/test_util.h"

namespace memr1::coordinator {
namespace {

using ::memr1::coordinator::testing::TempDir;
using ::memr1::coordinator::testing::TestEpisodes;

constexpr uint64_t kSeed = 7;

JobOptions TestOptions() {
  JobOptions options;
  options.total_steps = 3;
  options.units_per_step = 4;
  options.num_ranks = 2;
  options.lease_ttl = absl::Seconds(10);
  options.heartbeat_interval = absl::Seconds(2);
  options.checkpoint_every = 2;
  options.job_seed = kSeed;
  options.agent = v1::AGENT_KIND_ANSWER_AGENT;
  return options;
}

class JobStateTest : public ::testing::Test {
 protected:
  void Open(JobOptions options = TestOptions()) {
    state_.reset();
    absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(dir_.path() + "/state");
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::unique_ptr<JobState>> state =
        JobState::Open(options, TestEpisodes(kSeed), std::move(*store), now_);
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = std::move(*state);
  }

  std::string Register(v1::RoleKind kind, const std::string& id, int rank = 0) {
    v1::RegisterRequest request;
    request.set_role(kind);
    request.set_role_id(id);
    request.set_rank(rank);
    request.set_address(absl::StrCat(id, ":1"));
    absl::StatusOr<v1::RegisterResponse> response = state_->Register(request, now_);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->lease_id() : "";
  }

  void RegisterAll() {
    learner0_ = Register(v1::ROLE_KIND_LEARNER, "learner-0", 0);
    learner1_ = Register(v1::ROLE_KIND_LEARNER, "learner-1", 1);
    actor0_ = Register(v1::ROLE_KIND_ACTOR, "actor-0");
    actor1_ = Register(v1::ROLE_KIND_ACTOR, "actor-1");
  }

  void Heartbeat(const std::string& lease, int64_t version = 0) {
    v1::HeartbeatRequest request;
    request.set_lease_id(lease);
    request.set_policy_version(version);
    absl::StatusOr<v1::HeartbeatResponse> response = state_->Heartbeat(request, now_);
    ASSERT_TRUE(response.ok()) << response.status();
  }

  // Moves the clock; the learners stay alive.
  void Advance(absl::Duration d, bool keep_learners = true) {
    now_ += d;
    if (keep_learners) {
      Heartbeat(learner0_);
      Heartbeat(learner1_);
    }
  }

  std::vector<v1::WorkUnit> Lease(const std::string& lease, int max_units,
                                  int64_t version = 0) {
    v1::LeaseWorkRequest request;
    request.set_lease_id(lease);
    request.set_max_units(max_units);
    request.set_policy_version(version);
    absl::StatusOr<v1::LeaseWorkResponse> response = state_->LeaseWork(request, now_);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    return {response->units().begin(), response->units().end()};
  }

  v1::CompleteWorkResponse Complete(const std::string& lease, const v1::WorkUnit& unit,
                                    int attempt = -1, int64_t version = -1) {
    v1::CompleteWorkRequest request;
    request.set_lease_id(lease);
    request.set_unit_id(unit.id());
    request.set_attempt(attempt < 0 ? unit.attempt() : attempt);
    request.set_trajectories(8);
    request.set_reward_sum(1.5);
    request.set_policy_version(version < 0 ? unit.step() : version);
    absl::StatusOr<v1::CompleteWorkResponse> response = state_->CompleteWork(request, now_);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::CompleteWorkResponse();
  }

  absl::Status Publish(int64_t version, const std::string& checkpoint_dir = "") {
    v1::PublishVersionRequest request;
    request.set_lease_id(learner0_);
    request.set_version(version);
    request.set_content_hash(absl::StrCat("hash-", version));
    (*request.mutable_metrics())["loss"] = 0.5 + version;
    request.set_checkpoint_dir(checkpoint_dir);
    return state_->PublishVersion(request, now_);
  }

  v1::StepUnitsResponse StepUnits(int64_t step, int rank) {
    v1::StepUnitsRequest request;
    request.set_lease_id(rank == 0 ? learner0_ : learner1_);
    request.set_step(step);
    request.set_rank(rank);
    absl::StatusOr<v1::StepUnitsResponse> response = state_->StepUnits(request, now_);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::StepUnitsResponse();
  }

  // Leases and completes every unit of the open step with actor-0.
  void RunStep(int64_t step) {
    std::vector<v1::WorkUnit> units = Lease(actor0_, 100, step);
    ASSERT_EQ(units.size(), 4u);
    for (const v1::WorkUnit& unit : units) {
      ASSERT_EQ(unit.step(), step);
      ASSERT_TRUE(Complete(actor0_, unit).accepted());
    }
  }

  TempDir dir_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::unique_ptr<JobState> state_;
  std::string learner0_, learner1_, actor0_, actor1_;
};

TEST_F(JobStateTest, StartsRunningOnceEveryRankAndAnActorRegistered) {
  Open();
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_STARTING);
  learner0_ = Register(v1::ROLE_KIND_LEARNER, "learner-0", 0);
  actor0_ = Register(v1::ROLE_KIND_ACTOR, "actor-0");
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_STARTING);
  learner1_ = Register(v1::ROLE_KIND_LEARNER, "learner-1", 1);
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING);

  v1::RegisterRequest bad;
  bad.set_role(v1::ROLE_KIND_LEARNER);
  bad.set_role_id("learner-x");
  bad.set_rank(2);
  EXPECT_EQ(state_->Register(bad, now_).status().code(), absl::StatusCode::kInvalidArgument);
  bad.set_rank(1);
  EXPECT_EQ(state_->Register(bad, now_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobStateTest, UnitsOfAStepFollowTheEpisodeScheduleAndAlternateRanks) {
  Open();
  RegisterAll();
  EXPECT_TRUE(Lease(actor0_, 10).empty()) << "no unit before version 0";
  ASSERT_TRUE(Publish(0).ok());
  const std::vector<v1::WorkUnit> units = Lease(actor0_, 100);
  ASSERT_EQ(units.size(), 4u);
  std::unique_ptr<EpisodeStream> expected = TestEpisodes(kSeed);
  for (int i = 0; i < 4; ++i) {
    const EpisodeRef episode = expected->Next();
    EXPECT_EQ(units[i].id(), absl::StrCat("0-", i));
    EXPECT_EQ(units[i].attempt(), 1);
    EXPECT_EQ(units[i].learner_rank(), i % 2);
    EXPECT_EQ(units[i].policy_version(), 0);
    EXPECT_EQ(units[i].seed(), actor::EpisodeSeed(kSeed, i));
    EXPECT_EQ(units[i].agent(), v1::AGENT_KIND_ANSWER_AGENT);
    EXPECT_EQ(units[i].conversation_id(), episode.conversation_id);
    EXPECT_EQ(units[i].question_id(), episode.question_id);
    EXPECT_FALSE(units[i].question_id().empty());
  }
}

TEST_F(JobStateTest, SyncBarrierOpensStepOnlyWithItsVersion) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  std::vector<v1::WorkUnit> units = Lease(actor0_, 3);
  ASSERT_EQ(units.size(), 3u);
  for (const auto& unit : units) ASSERT_TRUE(Complete(actor0_, unit).accepted());
  EXPECT_EQ(Publish(1).code(), absl::StatusCode::kFailedPrecondition) << "step 0 incomplete";
  units = Lease(actor1_, 10);
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].id(), "0-3");
  EXPECT_TRUE(Lease(actor1_, 10).empty()) << "step 1 must wait for version 1";
  ASSERT_TRUE(Complete(actor1_, units[0]).accepted());
  EXPECT_TRUE(Lease(actor1_, 10).empty()) << "step 1 must wait for version 1";
  ASSERT_TRUE(Publish(1).ok());
  units = Lease(actor1_, 10, 1);
  ASSERT_EQ(units.size(), 4u);
  for (const auto& unit : units) EXPECT_EQ(unit.step(), 1);
  EXPECT_EQ(Publish(3).code(), absl::StatusCode::kFailedPrecondition) << "out of order";
}

TEST_F(JobStateTest, AsyncLeasesUpToMaxStalenessAhead) {
  JobOptions options = TestOptions();
  options.async = true;
  options.max_staleness = 1;
  options.checkpoint_every = 0;  // only the last step (2) checkpoints
  Open(options);
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  const std::vector<v1::WorkUnit> units = Lease(actor0_, 100, 0);
  ASSERT_EQ(units.size(), 8u) << "steps 0 and 1 with version 0";
  EXPECT_EQ(units[4].step(), 1);
  EXPECT_EQ(units[4].policy_version(), 0) << "oldest acceptable version of step 1";
  EXPECT_TRUE(Lease(actor1_, 100, 0).empty()) << "step 2 needs version 1";
  // Step 1 sampled with version 0 counts (within the bound).
  for (const auto& unit : units) {
    ASSERT_TRUE(Complete(actor0_, unit, -1, 0).accepted()) << unit.id();
  }
  ASSERT_TRUE(Publish(1).ok());
  EXPECT_TRUE(Lease(actor1_, 100, 0).empty()) << "an actor at version 0 may not take step 2";
  EXPECT_EQ(Lease(actor1_, 100, 1).size(), 4u);
}

TEST_F(JobStateTest, ExpiredLeaseIsReleasedWithNextAttemptAndLateCompletionRefused) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  const std::vector<v1::WorkUnit> first = Lease(actor0_, 1);
  ASSERT_EQ(first.size(), 1u);
  Heartbeat(actor1_);
  Advance(absl::Seconds(6));
  Heartbeat(actor1_);
  Advance(absl::Seconds(6));  // actor-0 silent for 12 s > TTL 10 s
  Heartbeat(actor1_);
  const std::vector<v1::WorkUnit> again = Lease(actor1_, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id(), first[0].id());
  EXPECT_EQ(again[0].attempt(), 2);
  EXPECT_EQ(state_->units_released(), 1);

  Heartbeat(actor0_);  // it comes back, late
  v1::CompleteWorkResponse late = Complete(actor0_, first[0]);
  EXPECT_FALSE(late.accepted());
  EXPECT_NE(late.reason().find("no longer current"), std::string::npos) << late.reason();
  EXPECT_EQ(state_->late_completions_refused(), 1);

  EXPECT_TRUE(Complete(actor1_, again[0]).accepted());
  EXPECT_TRUE(Complete(actor1_, again[0]).accepted()) << "idempotent";
  EXPECT_FALSE(Complete(actor0_, first[0]).accepted());
  EXPECT_EQ(state_->late_completions_refused(), 2);
  EXPECT_EQ(state_->CountUnits(UnitState::kDone), 1);
  EXPECT_EQ(StepUnits(0, 0).complete(), false);
}

TEST_F(JobStateTest, ReRegisteredActorLosesItsUnitsAtOnce) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  const std::vector<v1::WorkUnit> held = Lease(actor0_, 2);
  ASSERT_EQ(held.size(), 2u);
  const std::string old_lease = actor0_;
  actor0_ = Register(v1::ROLE_KIND_ACTOR, "actor-0");  // the process restarted
  const std::vector<v1::WorkUnit> units = Lease(actor1_, 10);
  ASSERT_EQ(units.size(), 4u);
  EXPECT_EQ(units[0].attempt(), 2);
  EXPECT_EQ(units[1].attempt(), 2);
  EXPECT_EQ(units[2].attempt(), 1);
  // The old incarnation is told to stop and its completions are refused.
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_lease_id(old_lease);
  absl::StatusOr<v1::HeartbeatResponse> response = state_->Heartbeat(heartbeat, now_);
  ASSERT_TRUE(response.ok());
  EXPECT_TRUE(response->stop());
  EXPECT_FALSE(Complete(old_lease, held[0]).accepted());
}

TEST_F(JobStateTest, StepUnitsListsExactlyTheRanksAcceptedAttempts) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  std::vector<v1::WorkUnit> units = Lease(actor0_, 4);
  ASSERT_EQ(units.size(), 4u);
  actor0_ = Register(v1::ROLE_KIND_ACTOR, "actor-0");  // restart: all 4 released
  std::vector<v1::WorkUnit> second = Lease(actor1_, 2);  // 0-0, 0-1 as attempt 2
  for (const auto& unit : second) ASSERT_TRUE(Complete(actor1_, unit).accepted());
  EXPECT_FALSE(StepUnits(0, 0).complete());
  EXPECT_EQ(StepUnits(0, 0).units_size(), 0);
  std::vector<v1::WorkUnit> rest = Lease(actor0_, 10);
  ASSERT_EQ(rest.size(), 2u);
  for (const auto& unit : rest) ASSERT_TRUE(Complete(actor0_, unit).accepted());
  const v1::StepUnitsResponse rank0 = StepUnits(0, 0);
  const v1::StepUnitsResponse rank1 = StepUnits(0, 1);
  ASSERT_TRUE(rank0.complete());
  ASSERT_EQ(rank0.units_size(), 2);
  ASSERT_EQ(rank1.units_size(), 2);
  std::map<std::string, int> attempts;
  for (const auto& u : rank0.units()) attempts[u.unit_id()] = u.attempt();
  EXPECT_EQ(attempts, (std::map<std::string, int>{{"0-0", 2}, {"0-2", 2}}));
  attempts.clear();
  for (const auto& u : rank1.units()) attempts[u.unit_id()] = u.attempt();
  EXPECT_EQ(attempts, (std::map<std::string, int>{{"0-1", 2}, {"0-3", 2}}));
  EXPECT_EQ(rank0.units(0).trajectories(), 8);
}

TEST_F(JobStateTest, CompletionWithWrongVersionIsRefusedAndReleased) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  const std::vector<v1::WorkUnit> units = Lease(actor0_, 1);
  v1::CompleteWorkResponse response = Complete(actor0_, units[0], -1, /*version=*/1);
  EXPECT_FALSE(response.accepted());
  EXPECT_NE(response.reason().find("policy version 1"), std::string::npos) << response.reason();
  const std::vector<v1::WorkUnit> again = Lease(actor1_, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id(), units[0].id());
  EXPECT_EQ(again[0].attempt(), 2);
}

TEST_F(JobStateTest, CheckpointStepsPauseUntilTheCheckpointAndTheJobEndsDone) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  EXPECT_FALSE(StepUnits(0, 0).checkpoint());
  EXPECT_TRUE(StepUnits(1, 0).checkpoint()) << "(1 + 1) % 2 == 0";
  EXPECT_TRUE(StepUnits(2, 1).checkpoint()) << "the last step";
  RunStep(0);
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING);
  ASSERT_TRUE(Publish(1).ok());
  RunStep(1);
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_CHECKPOINTING);
  ASSERT_TRUE(Publish(2).ok());  // weights first, without the checkpoint
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_CHECKPOINTING);
  EXPECT_TRUE(Lease(actor0_, 10, 2).empty()) << "no step opens while checkpointing";
  ASSERT_TRUE(Publish(2, "/ckpt/v2").ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING);
  EXPECT_EQ(state_->Status(now_).latest_checkpoint(), "/ckpt/v2");
  RunStep(2);
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_CHECKPOINTING);
  ASSERT_TRUE(Publish(3, "/ckpt/v3").ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_DONE);
  v1::LeaseWorkRequest request;
  request.set_lease_id(actor0_);
  EXPECT_TRUE(state_->LeaseWork(request, now_)->done());
  const v1::StatusResponse status = state_->Status(now_);
  EXPECT_EQ(status.units_done(), 12);
  EXPECT_EQ(status.units_pending(), 0);
  EXPECT_EQ(status.policy_version(), 3);
  EXPECT_EQ(status.metrics().at("loss"), 3.5);
}

TEST_F(JobStateTest, LostLearnerFailsTheJob) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  now_ += absl::Seconds(5);
  Heartbeat(learner0_);
  Heartbeat(actor0_);
  now_ += absl::Seconds(6);  // learner-1 silent for 11 s
  ASSERT_TRUE(state_->Tick(now_).ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_FAILED);
  EXPECT_NE(state_->error().find("learner rank 1"), std::string::npos) << state_->error();
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_lease_id(actor0_);
  EXPECT_TRUE(state_->Heartbeat(heartbeat, now_)->stop());
}

TEST_F(JobStateTest, RestartKeepsAcceptedUnitsAndReleasesLeasedOnes) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  RunStep(0);
  ASSERT_TRUE(Publish(1).ok());
  const std::vector<v1::WorkUnit> units = Lease(actor0_, 3, 1);
  ASSERT_EQ(units.size(), 3u);
  ASSERT_TRUE(Complete(actor0_, units[0]).accepted());
  const int64_t late_before = state_->late_completions_refused();

  Open();  // the coordinator restarts on the same state
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING);
  EXPECT_EQ(state_->newest_version(), 1);
  EXPECT_EQ(state_->CountUnits(UnitState::kDone), 5);
  EXPECT_EQ(state_->CountUnits(UnitState::kLeased), 0);
  // Old leases are unknown: roles register again.
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_lease_id(actor0_);
  EXPECT_EQ(state_->Heartbeat(heartbeat, now_).status().code(), absl::StatusCode::kNotFound);
  const std::string stale_actor = actor0_;
  RegisterAll();
  std::vector<v1::WorkUnit> rest = Lease(actor1_, 10, 1);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].id(), units[1].id());
  EXPECT_EQ(rest[0].attempt(), 2);
  EXPECT_EQ(rest[1].attempt(), 2);
  EXPECT_EQ(rest[2].attempt(), 1);
  // The pre-restart attempt (under the actor's new lease) is refused; the accepted one stays.
  EXPECT_FALSE(Complete(actor0_, units[1]).accepted());
  EXPECT_TRUE(Complete(actor0_, units[0]).accepted()) << "idempotent across the restart";
  for (const auto& unit : rest) ASSERT_TRUE(Complete(actor1_, unit).accepted());
  EXPECT_EQ(state_->CountUnits(UnitState::kDone), 8);
  EXPECT_EQ(state_->late_completions_refused(), late_before + 1);
  const v1::StepUnitsResponse rank1 = StepUnits(1, 1);
  ASSERT_TRUE(rank1.complete());
  EXPECT_EQ(rank1.units_size(), 2);
  ASSERT_TRUE(Publish(2).ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_CHECKPOINTING);
  // Another restart keeps CHECKPOINTING and the versions.
  Open();
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_CHECKPOINTING);
  EXPECT_EQ(state_->newest_version(), 2);
}

TEST_F(JobStateTest, LearnerThatDoesNotReturnAfterRestartFailsTheJob) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  Open();
  learner0_ = Register(v1::ROLE_KIND_LEARNER, "learner-0", 0);
  now_ += absl::Seconds(5);
  Heartbeat(learner0_);
  ASSERT_TRUE(state_->Tick(now_).ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING);
  now_ += absl::Seconds(6);
  Heartbeat(learner0_);
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_FAILED);
  EXPECT_NE(state_->error().find("rank 1"), std::string::npos) << state_->error();
}

TEST_F(JobStateTest, StateOfAnotherJobIsRefused) {
  Open();
  JobOptions other = TestOptions();
  other.units_per_step = 8;
  state_.reset();
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(dir_.path() + "/state");
  ASSERT_TRUE(store.ok());
  absl::StatusOr<std::unique_ptr<JobState>> state =
      JobState::Open(other, TestEpisodes(kSeed), std::move(*store), now_);
  EXPECT_EQ(state.status().code(), absl::StatusCode::kFailedPrecondition);
}

// `memr1 launch --resume` after a lost learner rank: back to the checkpoint of step 2, the
// version after it forgotten, the accepted units of steps 2 and 3 trained again as new
// attempts, counters kept; the state survives a restart and the job then ends DONE.
TEST_F(JobStateTest, ResumeFromCheckpointRollsBackLaterVersionsAndUnits) {
  JobOptions options = TestOptions();
  options.total_steps = 4;  // checkpoints after steps 1 and 3: versions 2 and 4
  Open(options);
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  RunStep(0);
  ASSERT_TRUE(Publish(1).ok());
  RunStep(1);
  ASSERT_TRUE(Publish(2, "/ckpt/v2").ok());
  const std::vector<v1::WorkUnit> old_step2 = Lease(actor0_, 4, 2);
  ASSERT_EQ(old_step2.size(), 4u);
  for (const v1::WorkUnit& unit : old_step2) ASSERT_TRUE(Complete(actor0_, unit).accepted());
  ASSERT_TRUE(Publish(3).ok());
  const std::vector<v1::WorkUnit> old_step3 = Lease(actor1_, 2, 3);
  ASSERT_EQ(old_step3.size(), 2u);
  ASSERT_TRUE(Complete(actor1_, old_step3[0]).accepted());
  ASSERT_TRUE(state_->Shutdown("learner exited with code 137", now_).ok());
  ASSERT_EQ(state_->phase(), v1::JOB_PHASE_FAILED);
  const int64_t released = state_->units_released();
  const int64_t late = state_->late_completions_refused();

  Open(options);  // the launcher opens the state of the stopped job
  EXPECT_EQ(state_->ResumeFromCheckpoint(5, "/ckpt/v5", now_).code(), absl::StatusCode::kFailedPrecondition)
      << "a checkpoint the state cannot have come from";
  ASSERT_TRUE(state_->ResumeFromCheckpoint(2, "/ckpt/v2", now_).ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_STARTING);
  EXPECT_TRUE(state_->error().empty()) << state_->error();
  EXPECT_EQ(state_->newest_version(), 2);
  EXPECT_EQ(state_->CountUnits(UnitState::kDone), 8) << "steps 0 and 1 stay accepted";
  EXPECT_EQ(state_->CountUnits(UnitState::kLeased), 0);
  EXPECT_EQ(state_->late_completions_refused(), late);
  EXPECT_GE(state_->units_released(), released);

  Open(options);  // the coordinator starts on the rolled-back state
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_STARTING);
  EXPECT_EQ(state_->newest_version(), 2);
  EXPECT_EQ(state_->CountUnits(UnitState::kDone), 8);
  EXPECT_EQ(state_->Status(now_).latest_checkpoint(), "/ckpt/v2");
  RegisterAll();
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING);
  ASSERT_TRUE(Publish(2, "/ckpt/v2").ok()) << "the restored learner republishes its version";
  EXPECT_EQ(Publish(3).code(), absl::StatusCode::kFailedPrecondition)
      << "step 2 must be trained again before version 3";
  EXPECT_FALSE(StepUnits(2, 0).complete());
  // A completion of an attempt from before the resume is refused.
  EXPECT_FALSE(Complete(actor0_, old_step2[1]).accepted());
  const std::vector<v1::WorkUnit> step2 = Lease(actor0_, 100, 2);
  ASSERT_EQ(step2.size(), 4u);
  for (const v1::WorkUnit& unit : step2) {
    EXPECT_EQ(unit.attempt(), 2) << unit.id() << ": a new attempt, not the accepted one";
    ASSERT_TRUE(Complete(actor0_, unit).accepted());
  }
  ASSERT_TRUE(Publish(3).ok());
  const std::vector<v1::WorkUnit> step3 = Lease(actor0_, 100, 3);
  ASSERT_EQ(step3.size(), 4u);
  for (const v1::WorkUnit& unit : step3) ASSERT_TRUE(Complete(actor0_, unit).accepted());
  EXPECT_EQ(step3[0].attempt(), 2) << "3-0 was accepted before the resume";
  ASSERT_TRUE(Publish(4, "/ckpt/v4").ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_DONE);
  EXPECT_EQ(state_->Status(now_).units_done(), 16);
  // A finished job stays finished.
  ASSERT_TRUE(state_->ResumeFromCheckpoint(4, "/ckpt/v4", now_).ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_DONE);
}

// The learners wrote the checkpoint of step 2 and were stopped before reporting it (SIGTERM or
// a requeue mid-step): the resumed job takes that checkpoint as done and goes on from step 2,
// instead of waiting for a checkpoint of step 2 the restored learners never write again.
TEST_F(JobStateTest, ResumeFromACheckpointTheCoordinatorNeverHeardOf) {
  JobOptions options = TestOptions();
  options.total_steps = 4;  // checkpoints after steps 1 and 3: versions 2 and 4
  Open(options);
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  RunStep(0);
  ASSERT_TRUE(Publish(1).ok());
  RunStep(1);  // the learners train step 1, write checkpoints/step-2, and are stopped
  ASSERT_TRUE(state_->Shutdown("requeued", now_).ok());

  Open(options);
  ASSERT_TRUE(state_->ResumeFromCheckpoint(2, "/run/checkpoints/step-2", now_).ok());
  EXPECT_EQ(state_->Status(now_).latest_checkpoint(), "/run/checkpoints/step-2");
  RegisterAll();
  ASSERT_TRUE(Publish(2).ok()) << "the restored learner publishes the checkpoint's version";
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING) << "not waiting for step 2's checkpoint";
  RunStep(2);
  ASSERT_TRUE(Publish(3).ok());
  RunStep(3);
  ASSERT_TRUE(Publish(4, "/run/checkpoints/step-4").ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_DONE);
}

// A checkpoint on request (a preempted job): the step being trained becomes a checkpoint step
// while no learner rank was handed its units; once one was, the next step (every rank must see
// the same flag). Phase CHECKPOINTING follows, as for the periodic ones.
TEST_F(JobStateTest, RequestedCheckpointIsTheEarliestStepNotYetHanded) {
  JobOptions options = TestOptions();
  options.total_steps = 6;
  options.checkpoint_every = 0;  // only the last step checkpoints by itself
  Open(options);
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  RunStep(0);
  EXPECT_FALSE(StepUnits(0, 0).checkpoint());
  absl::StatusOr<int64_t> step = state_->RequestCheckpoint("test", now_);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1) << "rank 0 was handed step 0 already";
  EXPECT_TRUE(StepUnits(0, 1).complete());
  EXPECT_FALSE(StepUnits(0, 1).checkpoint()) << "rank 1 sees what rank 0 saw";
  ASSERT_TRUE(Publish(1).ok());
  RunStep(1);
  EXPECT_TRUE(StepUnits(1, 0).checkpoint());
  EXPECT_TRUE(StepUnits(1, 1).checkpoint());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_CHECKPOINTING);
  ASSERT_TRUE(Publish(2, "/run/checkpoints/step-2").ok());
  EXPECT_EQ(state_->phase(), v1::JOB_PHASE_RUNNING);
  EXPECT_EQ(state_->Status(now_).latest_checkpoint_version(), 2);
  // Nothing of step 2 handed yet: the request takes step 2 itself.
  step = state_->RequestCheckpoint("again", now_);
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(*step, 2);
  ASSERT_TRUE(state_->Shutdown("stopped", now_).ok());
  EXPECT_EQ(state_->RequestCheckpoint("late", now_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(JobStateTest, ResumeWithoutCheckpointForgetsEveryVersion) {
  Open();
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok());
  RunStep(0);
  ASSERT_TRUE(Publish(1).ok());
  Open();
  ASSERT_TRUE(state_->ResumeFromCheckpoint(-1, "", now_).ok());
  EXPECT_EQ(state_->newest_version(), -1);
  EXPECT_EQ(state_->CountUnits(UnitState::kDone), 0);
  RegisterAll();
  ASSERT_TRUE(Publish(0).ok()) << "the initial weights are published again";
  EXPECT_EQ(Lease(actor0_, 100, 0).size(), 4u);
}

TEST(JobOptionsTest, FromConfigCountsGroups) {
  v1::JobConfig config;
  config.mutable_learner()->set_global_batch_size(16);
  config.mutable_learner()->set_num_ranks(2);
  config.mutable_actor()->mutable_sampling()->set_group_size(4);
  absl::StatusOr<JobOptions> options = JobOptions::FromConfig(config);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->units_per_step, 4);
  config.mutable_learner()->set_algorithm(v1::LearnerConfig::PPO);
  EXPECT_EQ(JobOptions::FromConfig(config)->units_per_step, 16);
  config.mutable_learner()->set_algorithm(v1::LearnerConfig::GRPO);
  config.mutable_actor()->mutable_sampling()->set_group_size(5);
  EXPECT_EQ(JobOptions::FromConfig(config).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memr1::coordinator
