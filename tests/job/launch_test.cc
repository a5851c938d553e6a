// A whole job through `memr1 launch`: 2 memstore shards, 2 actors, 2 learner ranks under mpirun,
// a tiny random model and a small synthetic world, in synchronous and asynchronous mode. The
// model learns nothing useful; what is checked is the distributed plumbing: the job ends DONE
// with exit 0, every work unit is accounted for exactly once, and the ranks' parameters are
// identical after every step (and equal to what rank 0 published).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/grpc_util.h"
#include "coordinator/client.h"
#include "memr1/v1/learner_service.grpc.pb.h"
#include "tests/actor/actor_testing.h"
#include "tests/job/tiny_job.h"
#include "tests/testing/files.h"
#include "tests/testing/process.h"

namespace memr1::job {
namespace {

using ::memr1::testing::ReadJsonLines;
using ::memr1::testing::ReadTextFile;
using ::memr1::testing::RunMemr1;

// The warning and error lines of a role's log (what a failure message should show).
std::string WarningLines(const std::string& log) {
  std::string lines;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" W ") != std::string::npos || line.find(" E ") != std::string::npos) {
      lines += line + "\n";
    }
  }
  return lines;
}

constexpr int kSteps = 2;
constexpr int kUnitsPerStep = 2;  // global batch 4 / group size 2

// The actors' "banks of N train conversations ready in ... (K built here, ...)" lines, and the
// sum of their K.
struct BankLines {
  std::string lines;
  int built_here = 0;
};
BankLines ReadBankLines(const std::string& out) {
  BankLines banks;
  const std::regex ready(
      "banks of [0-9]+ train conversations ready in [^ ]+ \\(([0-9]+) built here");
  for (const char* actor : {"/logs/actor-0.log", "/logs/actor-1.log"}) {
    std::istringstream in(ReadTextFile(out + actor));
    std::string line;
    while (std::getline(in, line)) {
      std::smatch match;
      if (!std::regex_search(line, match, ready)) continue;
      banks.lines += line + "\n";
      banks.built_here += std::stoi(match[1].str());
    }
  }
  return banks;
}

class LaunchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new actor::testing::TempDir();
    world_ = dir_->Sub("world.json");
    model_ = dir_->Sub("model");
    const absl::Status written = testing::WriteTinyJobFiles(world_, model_);
    ASSERT_TRUE(written.ok()) << written;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // A job config of `name` in `mode` ("sync" / "async").
  std::string WriteConfig(const std::string& name, const std::string& mode, int steps = kSteps,
                          int checkpoint_every = 1) {
    const std::string path = dir_->Sub(name + ".yaml");
    testing::WriteTinyJobConfig(
        path, {name, dir_->Sub(name), model_, world_, mode, steps, checkpoint_every});
    return path;
  }

  // Runs the job and checks the accounting and the ranks' parameters.
  void ExpectCompleteJob(const std::string& name, const std::string& mode) {
    const std::string config = WriteConfig(name, mode);
    const auto run = RunMemr1("launch --timeout 1200 --config " + config);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const std::string out = dir_->Sub(name);
    // Every unit accounted for exactly once: the coordinator's final count.
    EXPECT_NE(
        run.output.find(absl::StrCat("done: ", kSteps * kUnitsPerStep, " units, version ", kSteps)),
        std::string::npos)
        << run.output;
    // The learners trained every step once, on identical parameters.
    const auto rank0 = ReadJsonLines(out + "/metrics/learner-rank-0.jsonl");
    const auto rank1 = ReadJsonLines(out + "/metrics/learner-rank-1.jsonl");
    ASSERT_EQ(rank0.size(), static_cast<size_t>(kSteps)) << run.output;
    ASSERT_EQ(rank1.size(), static_cast<size_t>(kSteps)) << run.output;
    for (int s = 0; s < kSteps; ++s) {
      EXPECT_EQ(rank0[s]["step"], s + 1);
      EXPECT_EQ(rank0[s]["params_sha256"], rank1[s]["params_sha256"])
          << "ranks differ at step " << s;
    }
    EXPECT_NE(rank0[0]["params_sha256"], rank0[1]["params_sha256"]) << "training changed nothing";
    EXPECT_EQ(ReadJsonLines(out + "/metrics/learner.jsonl").size(), static_cast<size_t>(kSteps));
    // Rank 0 published the weights its peers hold, and the actors loaded them.
    const std::string learner_log = ReadTextFile(out + "/logs/learner.log");
    EXPECT_NE(learner_log.find(absl::StrCat("published version ", kSteps, " (sha256 ",
                                            rank0.back()["params_sha256"].get<std::string>())),
              std::string::npos)
        << learner_log;
    EXPECT_NE(ReadTextFile(out + "/logs/actor-0.log").find("loaded policy version"),
              std::string::npos);
    // The actors share the train banks: the one train conversation's bank was built once.
    const BankLines banks = ReadBankLines(out);
    EXPECT_EQ(banks.built_here, 1) << banks.lines;
    EXPECT_EQ(banks.lines.find("finished for a peer"), std::string::npos) << banks.lines;
    // Logs, checkpoints and the resolved config are in the output directory.
    for (const char* file :
         {"/logs/coordinator.log", "/logs/memstore-0.log", "/logs/memstore-1.log",
          "/logs/actor-1.log", "/job.yaml", "/checkpoints/LATEST"}) {
      EXPECT_TRUE(std::filesystem::exists(out + file)) << file;
    }
    EXPECT_EQ(ReadTextFile(out + "/checkpoints/LATEST"),
              absl::StrCat("step-0000000", kSteps, "\n"));
    // A second launch into the same directory without --resume is refused.
    const auto again = RunMemr1("launch --config " + config);
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
  }

  static actor::testing::TempDir* dir_;
  static std::string world_;
  static std::string model_;
};

actor::testing::TempDir* LaunchTest::dir_ = nullptr;
std::string LaunchTest::world_;
std::string LaunchTest::model_;

TEST_F(LaunchTest, SynchronousJobAccountsEveryUnitOnceAndRanksAgree) {
  ExpectCompleteJob("sync", "sync");
}

TEST_F(LaunchTest, AsynchronousJobAccountsEveryUnitOnceAndRanksAgree) {
  ExpectCompleteJob("async", "async");
}

}  // namespace
}  // namespace memr1::job

namespace memr1::job {
namespace {

// kill -9 of an actor while it works: the launcher restarts it, the coordinator re-leases its
// units (attempt + 1), and the job still ends with every unit done exactly once.
// A peer streaming to a running learner rank 0: a trajectory of a policy version the step does
// not allow, and a stream without the job token. Both are refused with a reason (the learner
// logs it and counts it in memr1_learner_ingest_rejected_total) and the job goes on. Writes
// what it saw to `report` and creates `done` at the end (the test's script waits for it).
void ProbeLearnerRefusals(const std::string& out, const std::string& report,
                          const std::string& done) {
  std::ofstream log(report);
  auto finish = [&] { std::ofstream(done) << "done\n"; };
  std::string address, token;
  for (int i = 0; i < 600 && (address.empty() || token.empty()); ++i) {
    address = ReadTextFile(out + "/addresses/coordinator");
    std::smatch match;
    const std::string yaml = ReadTextFile(out + "/job.yaml");
    if (std::regex_search(yaml, match, std::regex("job_token: \"?([A-Za-z0-9]+)"))) {
      token = match[1];
    }
    if (!address.empty() && address.back() == '\n') address.pop_back();
    if (address.empty() || token.empty()) absl::SleepFor(absl::Milliseconds(200));
  }
  coordinator::ClientOptions options;
  options.address = address;
  options.job_token = token;
  auto client = coordinator::CoordinatorClient::Connect(options);
  if (!client.ok()) {
    log << "no coordinator: " << client.status() << "\n";
    return finish();
  }
  std::string learner;
  int64_t step = 0;
  for (int i = 0; i < 600 && learner.empty(); ++i) {
    auto status = (*client)->Status();
    if (status.ok()) {
      step = status->step();
      for (const v1::RoleStatus& role : status->roles()) {
        if (role.role() == v1::ROLE_KIND_LEARNER && role.role_id() == "learner-0") {
          learner = role.address();
        }
      }
    }
    if (learner.empty()) absl::SleepFor(absl::Milliseconds(200));
  }
  auto channel = MakeChannel(learner, ChannelOptions{});
  if (learner.empty() || !channel.ok()) {
    log << "no learner address\n";
    return finish();
  }
  auto stub = v1::TrajectoryIngest::NewStub(*channel);
  auto send = [&](const std::string& with_token, int64_t version) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(30));
    AttachJobToken(&context, with_token);
    auto stream = stub->Stream(&context);
    v1::TrajectoryBatch batch;
    batch.set_sequence(1);
    batch.set_actor_id("probe");
    batch.set_unit_id(absl::StrCat(step, "-0"));  // a unit of rank 0 in the current step
    batch.set_attempt(99);
    batch.set_step(step);
    batch.set_last_of_unit(true);
    v1::Trajectory* trajectory = batch.add_trajectories();
    trajectory->set_id("probe/0");
    for (int i = 0; i < 4; ++i) trajectory->add_prompt_ids(i + 1);
    for (int i = 0; i < 3; ++i) {
      trajectory->add_response_ids(i + 5);
      trajectory->add_behaviour_logprobs(-0.5f);
    }
    trajectory->set_policy_version(version);
    trajectory->set_group_id("probe");
    stream->Write(batch);
    stream->WritesDone();
    v1::IngestAck ack;
    const bool got = stream->Read(&ack);
    const grpc::Status status = stream->Finish();
    log << "token=" << (with_token == token ? "right" : "wrong") << " version=" << version
        << " ack=" << (got ? (ack.accepted() ? "accepted" : "refused") : "none")
        << " reason=" << ack.reason() << " status=" << status.error_code() << " "
        << status.error_message() << "\n";
  };
  send(token, 99);
  send("not-the-token", step);
  finish();
}

// Ctrl-C (SIGINT to the launcher) while the actors work: the launcher marks the job failed
// ("interrupted"), stops every role it started and exits non-zero; no role outlives it.
TEST_F(LaunchTest, CtrlCStopsEveryRole) {
  const std::string config = WriteConfig("ctrl-c", "sync", /*steps=*/20);
  const std::string out = dir_->Sub("ctrl-c");
  const std::string log = dir_->Sub("ctrl-c.out");
  const std::string report = dir_->Sub("ctrl-c.probe"), done = dir_->Sub("ctrl-c.probe-done");
  std::thread probe(ProbeLearnerRefusals, out, report, done);
  const std::string script = absl::StrCat(
      testing::Memr1Binary(), " launch --timeout 1200 --config ", config, " > ", log, " 2>&1 &\n",
      "launch=$!\n", "for i in $(seq 1 600); do grep -q 'loaded policy version' ", out,
      "/logs/actor-0.log 2>/dev/null && break; sleep 0.5; done\n",
      "for i in $(seq 1 600); do [ -f ", done, " ] && break; sleep 0.2; done\n",
      "kill -INT $launch\n",
      "wait $launch\n", "echo \"launch exit $?\"\n",
      // Every role the launcher started (and mpirun's ranks) is gone.
      "for pid in $(sed -n 's/.*\\[launch\\] .* is pid \\([0-9]*\\).*/\\1/p' ", log,
      "); do kill -0 $pid 2>/dev/null && echo \"still running: $pid\"; done\n",
      // (the roles read the resolved config the launcher wrote into the output directory)
      // ("job.yam[l]": the pattern does not match this script's own command line)
      "for p in $(pgrep -f '", out, "/job.yam[l]'); do echo \"outlived: $(tr '\\0' ' ' < /proc/$p/cmdline)\"; done\n", "true\n");
  const auto run = testing::RunCommand(script);
  probe.join();
  const std::string output = ReadTextFile(log);
  EXPECT_NE(run.output.find("launch exit 1"), std::string::npos) << run.output << output;
  // The wrong policy version and the missing job token were refused, with their reasons.
  const std::string seen = ReadTextFile(report);
  EXPECT_NE(seen.find("token=right version=99 ack=refused reason=policy_version: unit "),
            std::string::npos)
      << seen;
  EXPECT_NE(seen.find("of version 99 for step"), std::string::npos) << seen;
  EXPECT_NE(seen.find("token=wrong"), std::string::npos) << seen;
  EXPECT_NE(seen.find("status=16"), std::string::npos) << "UNAUTHENTICATED expected:\n" << seen;
  const std::string learner_log = ReadTextFile(out + "/logs/learner.log");
  EXPECT_NE(learner_log.find("of version 99 for step"), std::string::npos) << learner_log;
  EXPECT_EQ(run.output.find("still running"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("outlived"), std::string::npos) << run.output;
  EXPECT_NE(output.find("stopping the job: interrupted (Ctrl-C)"), std::string::npos) << output;
  EXPECT_NE(output.find("learner is pid"), std::string::npos) << output;
  EXPECT_NE(ReadTextFile(out + "/logs/coordinator.log").find("interrupted"), std::string::npos);
}

TEST_F(LaunchTest, KilledActorIsRestartedAndItsUnitsAreReleased) {
  const std::string config = WriteConfig("kill-actor", "sync");
  const std::string out = dir_->Sub("kill-actor");
  const std::string log = dir_->Sub("kill-actor.out");
  // The launch runs in the background; once actor-0 has loaded weights (it is in its first
  // unit), it is killed. Every wait is bounded.
  const std::string script = absl::StrCat(
      testing::Memr1Binary(), " launch --timeout 1200 --config ", config, " > ", log, " 2>&1 &\n",
      "launch=$!\n", "for i in $(seq 1 600); do grep -q 'loaded policy version' ", out,
      "/logs/actor-0.log 2>/dev/null && break; sleep 0.5; done\n",
      "pid=$(sed -n 's/.*\\[launch\\] actor-0 is pid \\([0-9]*\\).*/\\1/p' ", log, " | head -1)\n",
      "kill -9 \"$pid\"\n", "wait $launch\n");
  const auto run = testing::RunCommand(script);
  const std::string output = ReadTextFile(log);
  ASSERT_EQ(run.exit_code, 0) << run.output << output;
  EXPECT_NE(output.find("actor-0 exited with code 137; restarting it"), std::string::npos)
      << output;
  EXPECT_NE(output.find(absl::StrCat("done: ", kSteps * kUnitsPerStep, " units, version ", kSteps)),
            std::string::npos)
      << output;
  const auto rank0 = ReadJsonLines(out + "/metrics/learner-rank-0.jsonl");
  const auto rank1 = ReadJsonLines(out + "/metrics/learner-rank-1.jsonl");
  ASSERT_EQ(rank0.size(), static_cast<size_t>(kSteps)) << output;
  ASSERT_EQ(rank1.size(), static_cast<size_t>(kSteps)) << output;
  EXPECT_EQ(rank0.back()["params_sha256"], rank1.back()["params_sha256"]);
}

// Two train conversations, one per actor's share; actor-1 is stopped (SIGSTOP) before it can
// build its share, so actor-0, having built its own, waits actor.peer_bank_wait_seconds without
// progress and builds actor-1's bank itself; actor-1 is then let go and the job finishes.
TEST_F(LaunchTest, AnActorBuildsTheShareOfAPeerThatMakesNoProgress) {
  const std::string config = WriteConfig("stalled-peer", "sync");
  const std::string out = dir_->Sub("stalled-peer");
  const std::string log = dir_->Sub("stalled-peer.out");
  const std::string script = absl::StrCat(
      testing::Memr1Binary(), " launch --timeout 1200 --config ", config,
      " --set actor.peer_bank_wait_seconds=1 --set data.train_conversations=2",
      " --set data.validation_conversations=0 > ", log, " 2>&1 &\n", "launch=$!\n",
      "pid=\n", "for i in $(seq 1 2400); do\n",
      "  pid=$(sed -n 's/.*\\[launch\\] actor-1 is pid \\([0-9]*\\).*/\\1/p' ", log,
      " | head -1)\n", "  [ -n \"$pid\" ] && break; sleep 0.05; done\n", "kill -STOP \"$pid\"\n",
      "for i in $(seq 1 1200); do grep -q 'banks of' ", out,
      "/logs/actor-0.log 2>/dev/null && break; sleep 0.5; done\n", "kill -CONT \"$pid\"\n",
      "wait $launch\n");
  const auto run = testing::RunCommand(script);
  const std::string output = ReadTextFile(log);
  ASSERT_EQ(run.exit_code, 0) << run.output << output;
  EXPECT_NE(output.find(absl::StrCat("done: ", kSteps * kUnitsPerStep, " units, version ", kSteps)),
            std::string::npos)
      << output;
  const std::string actor0 = ReadTextFile(out + "/logs/actor-0.log");
  EXPECT_NE(actor0.find("no progress on the peers' train banks for 1s"), std::string::npos)
      << actor0;
  EXPECT_NE(actor0.find("banks of 2 train conversations ready"), std::string::npos) << actor0;
  EXPECT_NE(actor0.find("(1 built here, 0 by peers, 1 finished for a peer)"), std::string::npos)
      << actor0;
}

}  // namespace
}  // namespace memr1::job

namespace memr1::job {
namespace {

// kill -9 of one learner rank once step 3 of 6 is trained (checkpoints after steps 2, 4 and 6):
// the launch fails naming the learner; `memr1 launch --resume` rolls the coordinator back to the
// latest checkpoint (step 2, or 4 when the machine was slow to react: the steps after it are
// redone) and finishes the job with exactly the parameters of an uninterrupted run of the same
// config and seed.
TEST_F(LaunchTest, KilledLearnerRankStopsTheJobAndResumeEqualsUninterruptedRun) {
  constexpr int kResumeSteps = 6;
  const std::string reference_config = WriteConfig("resume-reference", "sync", kResumeSteps, 2);
  const auto reference = RunMemr1("launch --timeout 1200 --config " + reference_config);
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  const auto expected =
      ReadJsonLines(dir_->Sub("resume-reference") + "/metrics/learner-rank-0.jsonl");
  ASSERT_EQ(expected.size(), static_cast<size_t>(kResumeSteps));

  const std::string config = WriteConfig("resume", "sync", kResumeSteps, 2);
  const std::string out = dir_->Sub("resume");
  const std::string log = dir_->Sub("resume.out");
  // Once rank 0 has trained step 3, the actors are frozen (SIGSTOP: no further step completes
  // once they are) and one of mpirun's rank processes is killed. A loaded machine may react
  // a step late, so the kill lands after the checkpoint of step 2 or of step 4, never after
  // the last. Every wait is bounded.
  const std::string script = absl::StrCat(
      testing::Memr1Binary(), " launch --timeout 1200 --config ", config, " > ", log, " 2>&1 &\n",
      "launch=$!\n", "for i in $(seq 1 1200); do [ \"$(cat ", out,
      "/metrics/learner-rank-0.jsonl 2>/dev/null | wc -l)\" -ge 3 ] && break; sleep 0.25; done\n",
      "for a in 0 1; do kill -STOP $(sed -n \"s/.*\\[launch\\] actor-$a is pid "
      "\\([0-9]*\\).*/\\1/p\" ",
      log, " | tail -1); done\n",
      "mpirun=$(sed -n 's/.*\\[launch\\] learner is pid \\([0-9]*\\).*/\\1/p' ", log,
      " | head -1)\n", "rank=$(pgrep -P \"$mpirun\" | tail -1)\n",
      "echo \"killing learner rank process $rank (mpirun $mpirun)\"\n", "kill -9 \"$rank\"\n",
      "wait $launch\n", "echo \"launch exit $?\"\n");
  const auto killed = testing::RunCommand(script);
  const std::string killed_output = ReadTextFile(log);
  ASSERT_NE(killed.output.find("killing learner rank process"), std::string::npos) << killed.output;
  EXPECT_EQ(killed.output.find("launch exit 0"), std::string::npos)
      << killed.output << killed_output;
  EXPECT_NE(killed_output.find("learner exited with code"), std::string::npos) << killed_output;
  const std::string latest = ReadTextFile(out + "/checkpoints/LATEST");
  ASSERT_TRUE(latest == "step-00000002\n" || latest == "step-00000004\n")
      << "the kill should come after the checkpoint of step 2 and before the last: " << latest;
  const int checkpoint_step = latest == "step-00000002\n" ? 2 : 4;

  const auto killed_jsonl = ReadJsonLines(out + "/metrics/learner-rank-0.jsonl");
  ASSERT_GE(killed_jsonl.size(), 3u) << "rank 0 trained steps 1..3 before the kill";
  ASSERT_LT(killed_jsonl.size(), static_cast<size_t>(kResumeSteps));
  const auto resumed = RunMemr1("launch --resume --timeout 1200 --config " + config);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output << ReadTextFile(out + "/logs/learner.log")
                                  << WarningLines(ReadTextFile(out + "/logs/actor-0.log"))
                                  << WarningLines(ReadTextFile(out + "/logs/actor-1.log"));
  EXPECT_NE(resumed.output.find(
                absl::StrCat("continuing from the checkpoint of step ", checkpoint_step)),
            std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find(absl::StrCat("done: ", kResumeSteps * kUnitsPerStep,
                                             " units, version ", kResumeSteps)),
            std::string::npos)
      << resumed.output;
  // The rank files hold both runs' lines; the last is the final step of the resumed run.
  const auto rank0 = ReadJsonLines(out + "/metrics/learner-rank-0.jsonl");
  const auto rank1 = ReadJsonLines(out + "/metrics/learner-rank-1.jsonl");
  ASSERT_FALSE(rank0.empty());
  ASSERT_FALSE(rank1.empty());
  EXPECT_EQ(rank0.back()["step"], kResumeSteps);
  EXPECT_EQ(rank0.back()["params_sha256"], rank1.back()["params_sha256"]);
  // Step 3 of the first run and of the uninterrupted one agree too.
  EXPECT_EQ(rank0[2]["step"], 3);
  EXPECT_EQ(rank0[2]["params_sha256"], expected[2]["params_sha256"]);
  EXPECT_EQ(rank0.back()["params_sha256"], expected.back()["params_sha256"])
      << "resumed training differs from the uninterrupted run";
  // A finished job has nothing to resume.
  const auto again = RunMemr1("launch --resume --config " + config);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("is already done"), std::string::npos) << again.output;
}

}  // namespace
}  // namespace memr1::job

namespace memr1::job {
namespace {

// kill -9 of `victim` ("memstore-0" or "coordinator") once actor-0 works on its first unit:
// the launcher restarts it on its data and address, the roles carry on (actors retry the
// episodes that failed, every role registers again with a new coordinator) and the job ends
// DONE with every unit once and the ranks' parameters identical.
void ExpectJobSurvivesKillOf(const std::string& name, const std::string& config,
                             const std::string& out, const std::string& log,
                             const std::string& victim) {
  const std::string script = absl::StrCat(
      testing::Memr1Binary(), " launch --timeout 1200 --config ", config, " > ", log, " 2>&1 &\n",
      "launch=$!\n",
      // A peer without the job token is refused while the job runs (and the job goes on).
      "for i in $(seq 1 600); do [ -s ", out,
      "/addresses/coordinator ] && break; sleep 0.2; done\n", testing::Memr1Binary(),
      " status --job-token not-the-token --coordinator $(cat ", out,
      "/addresses/coordinator) > /dev/null 2>&1; echo \"wrong-token status exit $?\"\n",
      "for i in $(seq 1 600); do grep -q 'loaded policy version' ", out,
      "/logs/actor-0.log 2>/dev/null && break; sleep 0.5; done\n",
      "pid=$(sed -n 's/.*\\[launch\\] ", victim, " is pid \\([0-9]*\\).*/\\1/p' ", log,
      " | head -1)\n", "echo \"killing ", victim, " $pid\"\n", "kill -9 \"$pid\"\n",
      "wait $launch\n");
  const auto run = testing::RunCommand(script);
  const std::string output = ReadTextFile(log);
  ASSERT_EQ(run.exit_code, 0) << name << "\n" << run.output << output;
  EXPECT_NE(run.output.find("wrong-token status exit 1"), std::string::npos) << run.output;
  EXPECT_NE(output.find("Status refused"), std::string::npos)
      << "the coordinator logs the refusal with its reason";
  EXPECT_NE(output.find(absl::StrCat(victim, " exited with code 137; restarting it")),
            std::string::npos)
      << output;
  EXPECT_NE(output.find(absl::StrCat("done: ", kSteps * kUnitsPerStep, " units, version ", kSteps)),
            std::string::npos)
      << output;
  const auto rank0 = ReadJsonLines(out + "/metrics/learner-rank-0.jsonl");
  const auto rank1 = ReadJsonLines(out + "/metrics/learner-rank-1.jsonl");
  ASSERT_EQ(rank0.size(), static_cast<size_t>(kSteps)) << output;
  ASSERT_EQ(rank1.size(), static_cast<size_t>(kSteps)) << output;
  EXPECT_EQ(rank0.back()["params_sha256"], rank1.back()["params_sha256"]);
}

TEST_F(LaunchTest, KilledMemstoreShardIsRestartedOnItsDataAndPort) {
  const std::string config = WriteConfig("kill-memstore", "sync");
  const std::string out = dir_->Sub("kill-memstore");
  ExpectJobSurvivesKillOf("kill-memstore", config, out, dir_->Sub("kill-memstore.out"),
                          "memstore-0");
  // The restarted shard bound the same address (the actors' shard list stayed valid).
  const std::string shard_log = ReadTextFile(out + "/logs/memstore-0.log");
  std::smatch first;
  ASSERT_TRUE(std::regex_search(shard_log, first,
                                std::regex("memstore: serving on 127\\.0\\.0\\.1:[0-9]+")))
      << shard_log;
  const std::string line = first.str();
  size_t seen = 0;
  for (size_t at = shard_log.find(line); at != std::string::npos;
       at = shard_log.find(line, at + 1)) {
    ++seen;
  }
  EXPECT_EQ(seen, 2u) << "both starts should print '" << line << "':\n" << shard_log;
}

TEST_F(LaunchTest, KilledCoordinatorIsRestartedFromItsState) {
  const std::string config = WriteConfig("kill-coordinator", "sync");
  const std::string out = dir_->Sub("kill-coordinator");
  ExpectJobSurvivesKillOf("kill-coordinator", config, out, dir_->Sub("kill-coordinator.out"),
                          "coordinator");
  EXPECT_NE(ReadTextFile(out + "/logs/coordinator.log").find("resumed job state"),
            std::string::npos);
}

}  // namespace
}  // namespace memr1::job
