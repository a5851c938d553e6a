// `memr1 coordinator` as a child process with --address-file, `memr1 status` against it, and a
// kill -9 + restart over the same state_dir: the restarted coordinator resumes at the same
// step and version, its leased unit comes back as attempt 2, and roles register again.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/client.h"
#include "tests/coordinator/test_util.h"
#include "tests/testing/process.h"

extern char** environ;

namespace memr1::coordinator {
namespace {

using ::memr1::coordinator::testing::TempDir;
using ::memr1::testing::RunMemr1;

constexpr char kToken[] = "cli-token";

class CoordinatorProcess {
 public:
  CoordinatorProcess(const std::string& config, const std::string& dir, int generation,
                     const std::vector<std::string>& extra = {}) {
    address_file_ = absl::StrCat(dir, "/address-", generation);
    log_ = absl::StrCat(dir, "/coordinator-", generation, ".log");
    std::vector<std::string> args = {::memr1::testing::Memr1Binary(), "coordinator", "--config",
                                     config, "--address-file", address_file_};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~CoordinatorProcess() { Kill(SIGKILL); }

  // The bound address once written (empty after 30 s or if the child exited).
  std::string WaitForAddress() {
    for (int i = 0; i < 300 && pid_ > 0; ++i) {
      std::ifstream in(address_file_);
      std::string address;
      if (in && std::getline(in, address) && !address.empty()) return address;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "";
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return "";
  }

  int Kill(int signal) {
    if (pid_ <= 0) return 0;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  // Waits (at most `timeout`) for the child to exit by itself; its exit code, or -1.
  int WaitForExit(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (pid_ > 0 && absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return -1;
  }

  std::string Log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  pid_t pid_ = -1;
  std::string address_file_;
  std::string log_;
};

std::unique_ptr<CoordinatorClient> Connect(const std::string& address) {
  ClientOptions options;
  options.address = address;
  options.job_token = kToken;
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client = CoordinatorClient::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

std::string Register(CoordinatorClient* client, v1::RoleKind kind, const std::string& id,
                     int rank = 0) {
  v1::RegisterRequest request;
  request.set_role(kind);
  request.set_role_id(id);
  request.set_rank(rank);
  absl::StatusOr<v1::RegisterResponse> response = client->Register(request);
  EXPECT_TRUE(response.ok()) << response.status();
  return response.ok() ? response->lease_id() : "";
}

TEST(CoordinatorCliTest, StatusAndResumeAfterKill9) {
  TempDir dir;
  const std::string world = dir.path() + "/world.json";
  const ::memr1::testing::CommandResult synth = RunMemr1(absl::StrCat(
      "data synth --conversations 2 --sessions 2 --turns 6 --questions 5 --output ", world));
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  const std::string config = dir.path() + "/job.yaml";
  {
    std::ofstream out(config);
    out << "name: clijob\noutput_dir: " << dir.path() << "/run\njob_token: " << kToken
        << "\ndata:\n  dataset: synthetic\n  path: " << world
        << "\n  train_conversations: 1\n  validation_conversations: 0\n  test_conversations: 1\n"
        << "learner:\n  num_ranks: 1\n  global_batch_size: 4\n  total_steps: 3\n"
        << "actor:\n  train_agent: answer_agent\n  sampling:\n    group_size: 2\n"
        << "coordinator:\n  lease_seconds: 30\n  heartbeat_seconds: 1\n";
  }

  CoordinatorProcess first(config, dir.path(), 1);
  const std::string address = first.WaitForAddress();
  ASSERT_FALSE(address.empty()) << first.Log();
  std::unique_ptr<CoordinatorClient> client = Connect(address);
  std::string learner = Register(client.get(), v1::ROLE_KIND_LEARNER, "learner-0", 0);
  std::string actor = Register(client.get(), v1::ROLE_KIND_ACTOR, "actor-0");
  v1::PublishVersionRequest publish;
  publish.set_lease_id(learner);
  publish.set_version(0);
  publish.set_content_hash("sha-0");
  ASSERT_TRUE(client->PublishVersion(publish).ok());
  v1::LeaseWorkRequest lease;
  lease.set_lease_id(actor);
  lease.set_max_units(10);
  absl::StatusOr<v1::LeaseWorkResponse> units = client->LeaseWork(lease);
  ASSERT_TRUE(units.ok()) << units.status();
  ASSERT_EQ(units->units_size(), 2);
  for (const v1::WorkUnit& unit : units->units()) {
    v1::CompleteWorkRequest complete;
    complete.set_lease_id(actor);
    complete.set_unit_id(unit.id());
    complete.set_attempt(unit.attempt());
    complete.set_trajectories(2);
    complete.set_policy_version(0);
    ASSERT_TRUE(client->CompleteWork(complete)->accepted());
  }
  publish.set_version(1);
  publish.set_content_hash("sha-1");
  (*publish.mutable_metrics())["loss"] = 0.75;
  ASSERT_TRUE(client->PublishVersion(publish).ok());
  lease.set_max_units(1);
  lease.set_policy_version(1);
  units = client->LeaseWork(lease);
  ASSERT_TRUE(units.ok() && units->units_size() == 1);
  const v1::WorkUnit held = units->units(0);
  EXPECT_EQ(held.id(), "1-0");

  v1::HeartbeatRequest gauges;
  gauges.set_lease_id(actor);
  gauges.set_policy_version(1);
  (*gauges.mutable_gauges())["idle_fraction"] = 0.25;
  (*gauges.mutable_gauges())["units_done"] = 2;
  ASSERT_TRUE(client->Heartbeat(gauges).ok());
  ::memr1::testing::CommandResult status =
      RunMemr1(absl::StrCat("status --coordinator ", address, " --config ", config));
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("phase:        running"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("step:         1 / 3"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("version:      1 (sha-1)"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("pending 3, leased 1, done 2"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("loss=0.75"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("learner-0"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("healthy"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("idle_fraction=0.25 units_done=2"), std::string::npos)
      << status.output;
  const ::memr1::testing::CommandResult json =
      RunMemr1(absl::StrCat("status --json --coordinator ", address, " --config ", config));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_NE(json.output.find("\"policy_hash\":\"sha-1\""), std::string::npos) << json.output;
  EXPECT_NE(json.output.find("\"idle_fraction\":0.25"), std::string::npos) << json.output;
  // A checkpoint on request: after step 1 (no learner was handed it yet); --wait gives up when
  // nobody writes it.
  const ::memr1::testing::CommandResult requested = RunMemr1(
      absl::StrCat("checkpoint --coordinator ", address, " --config ", config, " --wait 1"));
  EXPECT_EQ(requested.exit_code, 1) << requested.output;
  EXPECT_NE(requested.output.find("checkpoint requested after step 1 (version 2)"),
            std::string::npos)
      << requested.output;
  EXPECT_NE(requested.output.find("was not written within 1 s"), std::string::npos)
      << requested.output;
  const ::memr1::testing::CommandResult refused =
      RunMemr1(absl::StrCat("status --coordinator ", address, " --job-token wrong"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("wrong job token"), std::string::npos) << refused.output;

  first.Kill(SIGKILL);
  CoordinatorProcess second(config, dir.path(), 2);
  const std::string address2 = second.WaitForAddress();
  ASSERT_FALSE(address2.empty()) << second.Log();
  status = RunMemr1(absl::StrCat("status --coordinator ", address2, " --job-token ", kToken));
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("phase:        running"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("step:         1 / 3"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("version:      1 (sha-1)"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("pending 4, leased 0, done 2, re-leased 1"), std::string::npos)
      << status.output;

  client = Connect(address2);
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_lease_id(actor);
  EXPECT_EQ(client->Heartbeat(heartbeat).status().code(), absl::StatusCode::kNotFound);
  learner = Register(client.get(), v1::ROLE_KIND_LEARNER, "learner-0", 0);
  actor = Register(client.get(), v1::ROLE_KIND_ACTOR, "actor-0");
  lease.set_lease_id(actor);
  units = client->LeaseWork(lease);
  ASSERT_TRUE(units.ok() && units->units_size() == 1);
  EXPECT_EQ(units->units(0).id(), "1-0");
  EXPECT_EQ(units->units(0).attempt(), 2);

  // A launcher that saw a role die ends the job: the coordinator exits non-zero by itself.
  ASSERT_TRUE(client->Shutdown("actor-0 died").ok());
  EXPECT_EQ(second.WaitForExit(absl::Seconds(30)), 1) << second.Log();
  EXPECT_NE(second.Log().find("actor-0 died"), std::string::npos) << second.Log();

  // A cluster relaunch (`memr1 coordinator --resume`) rolls the failed job back to the
  // learners' latest checkpoint: version 1 and the units after step 0 are trained again.
  const std::string checkpoints = dir.path() + "/run/checkpoints";
  std::filesystem::create_directories(checkpoints);
  std::ofstream(checkpoints + "/LATEST") << "garbage\n";
  CoordinatorProcess broken(config, dir.path(), 3, {"--resume"});
  EXPECT_EQ(broken.WaitForExit(absl::Seconds(30)), 1) << broken.Log();
  EXPECT_NE(broken.Log().find("LATEST holds 'garbage', not step-<N>"), std::string::npos)
      << broken.Log();
  std::ofstream(checkpoints + "/LATEST") << "step-0\n";
  CoordinatorProcess third(config, dir.path(), 4, {"--resume", "--checkpoints", checkpoints});
  const std::string address3 = third.WaitForAddress();
  ASSERT_FALSE(address3.empty()) << third.Log();
  EXPECT_NE(third.Log().find("resume: the job was JOB_PHASE_FAILED; continuing from the "
                             "checkpoint of step 0"),
            std::string::npos)
      << third.Log();
  status = RunMemr1(absl::StrCat("status --coordinator ", address3, " --job-token ", kToken));
  ASSERT_EQ(status.exit_code, 0) << status.output;
  // Starting again (until the learners register), back at version 0 with nothing accepted.
  EXPECT_NE(status.output.find("phase:        starting"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("version:      0 (sha-0)"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("step:         0 / 3"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("done 0"), std::string::npos) << status.output;
}

}  // namespace
}  // namespace memr1::coordinator
