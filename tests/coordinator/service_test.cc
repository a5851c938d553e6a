// The Coordinator service on a real gRPC server at 127.0.0.1:0 with a real RocksDB state: the
// job token, every call through CoordinatorClient, the Heartbeater, and a simulated job of 3
// steps with 2 actors and 2 learners (test code playing the roles) in which every unit is
// accounted for exactly once although one actor restarts mid-step.

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/client.h"
#include "coordinator/server.h"
#include "tests/coordinator/test_util.h"

namespace memr1::coordinator {
namespace {

using ::memr1::coordinator::testing::TempDir;
using ::memr1::coordinator::testing::TestEpisodes;

constexpr char kToken[] = "service-token";

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.job.total_steps = 3;
    options.job.units_per_step = 4;
    options.job.num_ranks = 2;
    options.job.lease_ttl = absl::Seconds(20);
    options.job.heartbeat_interval = absl::Milliseconds(200);
    options.job.checkpoint_every = 2;
    options.job.job_seed = 3;
    options.job.agent = v1::AGENT_KIND_ANSWER_AGENT;
    options.episodes = TestEpisodes(3);
    options.state_dir = dir_.path() + "/state";
    options.job_token = kToken;
    options.tick_interval = absl::Milliseconds(50);
    absl::StatusOr<std::unique_ptr<CoordinatorServer>> server =
        CoordinatorServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  std::unique_ptr<CoordinatorClient> Client(const std::string& token = kToken) {
    ClientOptions options;
    options.address = server_->address();
    options.job_token = token;
    options.timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<CoordinatorClient>> client =
        CoordinatorClient::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  static std::string Register(CoordinatorClient* client, v1::RoleKind kind, const std::string& id,
                              int rank = 0) {
    v1::RegisterRequest request;
    request.set_role(kind);
    request.set_role_id(id);
    request.set_rank(rank);
    request.set_address(absl::StrCat("127.0.0.1:", 7000 + rank));
    absl::StatusOr<v1::RegisterResponse> response = client->Register(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->lease_id() : "";
  }

  TempDir dir_;
  std::unique_ptr<CoordinatorServer> server_;
};

TEST_F(ServiceTest, CallsWithoutTheJobTokenAreUnauthenticated) {
  std::unique_ptr<CoordinatorClient> anonymous = Client("");
  absl::StatusOr<v1::StatusResponse> status = anonymous->Status();
  EXPECT_EQ(status.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(status.status().message().find(server_->address()), std::string::npos)
      << status.status();
  std::unique_ptr<CoordinatorClient> wrong = Client("not-the-token");
  v1::RegisterRequest request;
  request.set_role(v1::ROLE_KIND_ACTOR);
  request.set_role_id("intruder");
  EXPECT_EQ(wrong->Register(request).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Client()->Status().ok());
}

TEST_F(ServiceTest, ThreeStepJobAccountsForEveryUnitExactlyOnce) {
  std::unique_ptr<CoordinatorClient> learner_client[2] = {Client(), Client()};
  std::unique_ptr<CoordinatorClient> actor_client[2] = {Client(), Client()};
  std::string learner[2];
  for (int r = 0; r < 2; ++r) {
    learner[r] = Register(learner_client[r].get(), v1::ROLE_KIND_LEARNER,
                          absl::StrCat("learner-", r), r);
  }
  std::string actor[2];
  for (int a = 0; a < 2; ++a) {
    actor[a] = Register(actor_client[a].get(), v1::ROLE_KIND_ACTOR, absl::StrCat("actor-", a));
  }
  Heartbeater heartbeat0(learner_client[0].get(), learner[0], absl::Milliseconds(100));
  Heartbeater heartbeat1(learner_client[1].get(), learner[1], absl::Milliseconds(100));

  v1::StatusResponse status = *Client()->Status();
  EXPECT_EQ(status.phase(), v1::JOB_PHASE_RUNNING);
  EXPECT_EQ(status.roles_size(), 4);

  auto publish = [&](int64_t version, const std::string& checkpoint) {
    v1::PublishVersionRequest request;
    request.set_lease_id(learner[0]);
    request.set_version(version);
    request.set_content_hash(absl::StrCat("sha-", version));
    (*request.mutable_metrics())["reward_mean"] = 0.25 * version;
    request.set_checkpoint_dir(checkpoint);
    return learner_client[0]->PublishVersion(request);
  };
  // Only rank 0 publishes.
  v1::PublishVersionRequest by_rank1;
  by_rank1.set_lease_id(learner[1]);
  by_rank1.set_content_hash("x");
  EXPECT_EQ(learner_client[1]->PublishVersion(by_rank1).code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(publish(0, "").ok());

  std::map<std::string, int> accepted;  // unit -> attempt, from CompleteWork answers
  int refused = 0;
  for (int64_t step = 0; step < 3; ++step) {
    bool restarted = false;
    for (int round = 0; round < 50; ++round) {
      bool leased_any = false;
      for (int a = 0; a < 2; ++a) {
        v1::LeaseWorkRequest lease;
        lease.set_lease_id(actor[a]);
        lease.set_max_units(1);
        lease.set_policy_version(step);
        absl::StatusOr<v1::LeaseWorkResponse> units = actor_client[a]->LeaseWork(lease);
        ASSERT_TRUE(units.ok()) << units.status();
        for (const v1::WorkUnit& unit : units->units()) {
          leased_any = true;
          ASSERT_EQ(unit.step(), step);
          if (step == 1 && a == 1 && !restarted) {
            // actor-1 dies holding the unit and comes back as a new process: its unit is
            // released at once, and its completion of the old attempt is refused.
            restarted = true;
            const std::string old_lease = actor[1];
            actor[1] = Register(actor_client[1].get(), v1::ROLE_KIND_ACTOR, "actor-1");
            v1::CompleteWorkRequest late;
            late.set_lease_id(old_lease);
            late.set_unit_id(unit.id());
            late.set_attempt(unit.attempt());
            late.set_trajectories(2);
            late.set_policy_version(step);
            absl::StatusOr<v1::CompleteWorkResponse> answer =
                actor_client[1]->CompleteWork(late);
            ASSERT_TRUE(answer.ok()) << answer.status();
            EXPECT_FALSE(answer->accepted());
            ++refused;
            continue;
          }
          v1::CompleteWorkRequest complete;
          complete.set_lease_id(actor[a]);
          complete.set_unit_id(unit.id());
          complete.set_attempt(unit.attempt());
          complete.set_trajectories(2);
          complete.set_reward_sum(1);
          complete.set_policy_version(step);
          absl::StatusOr<v1::CompleteWorkResponse> answer =
              actor_client[a]->CompleteWork(complete);
          ASSERT_TRUE(answer.ok()) << answer.status();
          ASSERT_TRUE(answer->accepted()) << answer->reason();
          EXPECT_TRUE(accepted.emplace(unit.id(), unit.attempt()).second)
              << unit.id() << " accepted twice";
        }
      }
      if (!leased_any) break;
    }
    // The learners' view: exactly the accepted attempts, each on its rank.
    std::map<std::string, int> listed;
    for (int r = 0; r < 2; ++r) {
      v1::StepUnitsRequest request;
      request.set_lease_id(learner[r]);
      request.set_step(step);
      request.set_rank(r);
      absl::StatusOr<v1::StepUnitsResponse> units = learner_client[r]->StepUnits(request);
      ASSERT_TRUE(units.ok()) << units.status();
      ASSERT_TRUE(units->complete()) << "step " << step;
      EXPECT_EQ(units->checkpoint(), step >= 1);
      for (const v1::AcceptedUnit& unit : units->units()) {
        EXPECT_TRUE(listed.emplace(unit.unit_id(), unit.attempt()).second);
        EXPECT_EQ(unit.trajectories(), 2);
      }
    }
    std::map<std::string, int> expected;
    for (const auto& [id, attempt] : accepted) {
      if (id.rfind(absl::StrCat(step, "-"), 0) == 0) expected[id] = attempt;
    }
    EXPECT_EQ(listed, expected) << "step " << step;
    EXPECT_EQ(listed.size(), 4u);
    ASSERT_TRUE(publish(step + 1, step >= 1 ? absl::StrCat("/ckpt/", step + 1) : "").ok());
  }
  EXPECT_EQ(accepted.size(), 12u);
  EXPECT_EQ(refused, 1);
  int retried = 0;
  for (const auto& [id, attempt] : accepted) retried += attempt > 1 ? 1 : 0;
  EXPECT_EQ(retried, 1) << "the unit actor-1 held was redone as attempt 2";

  status = *Client()->Status();
  EXPECT_EQ(status.phase(), v1::JOB_PHASE_DONE);
  EXPECT_EQ(status.units_done(), 12);
  EXPECT_EQ(status.units_pending(), 0);
  EXPECT_EQ(status.late_completions_refused(), 1);
  EXPECT_EQ(status.policy_version(), 3);
  EXPECT_EQ(status.policy_hash(), "sha-3");
  EXPECT_EQ(status.latest_checkpoint(), "/ckpt/3");
  EXPECT_GT(status.trajectories_per_second(), 0);
  // The learners' heartbeaters hear that the job is over (bounded wait).
  for (int i = 0; i < 100 && !heartbeat0.stop(); ++i) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_TRUE(heartbeat0.stop());
  EXPECT_GT(heartbeat0.answered(), 0);
  ASSERT_TRUE(heartbeat1.latest().has_value());
  EXPECT_EQ(heartbeat1.latest()->policy_version(), 3);
}

TEST_F(ServiceTest, HeartbeaterReportsLeaseLossAfterAnUnknownLease) {
  std::unique_ptr<CoordinatorClient> client = Client();
  Heartbeater heartbeater(client.get(), "actor-9:0000", absl::Milliseconds(50));
  for (int i = 0; i < 100 && !heartbeater.lease_lost(); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(heartbeater.lease_lost());
  EXPECT_EQ(heartbeater.last_error().code(), absl::StatusCode::kNotFound);
  heartbeater.Close();
  heartbeater.Close();  // idempotent
}

TEST_F(ServiceTest, HeartbeaterSendsAtOnceWhenAskedInsteadOfWaitingOutTheInterval) {
  std::unique_ptr<CoordinatorClient> client = Client();
  const std::string lease = Register(client.get(), v1::ROLE_KIND_ACTOR, "actor-0");
  ASSERT_FALSE(lease.empty());
  Heartbeater heartbeater(client.get(), lease, absl::Hours(1));
  // The first heartbeat goes at once (bounded wait); the next would wait an hour.
  for (int i = 0; i < 200 && heartbeater.answered() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(heartbeater.answered(), 1);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(heartbeater.answered(), 1);
  heartbeater.SendNow();
  for (int i = 0; i < 200 && heartbeater.answered() == 1; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(heartbeater.answered(), 2);
  heartbeater.Close();  // wakes the hour-long wait
}

}  // namespace
}  // namespace memr1::coordinator
