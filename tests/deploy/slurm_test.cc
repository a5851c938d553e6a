// The Slurm path for real: a one-node Slurm cluster (Debian's slurm-wlm: slurmctld, slurmd and
// munge, on 127.0.0.1 with 2 CPUs, all in a temporary directory; tests/deploy/slurm_cluster.sh)
// runs tiny jobs submitted with `memr1 slurm submit`: the batch script lays the roles out on the
// allocation, starts them as job steps (learner ranks through srun --mpi=pmix or mpirun) and
// watches them to the end. Every wait is bounded; the cluster is torn down at the end, also
// when a test fails.
//
// 1. A job runs to DONE: the job COMPLETED with exit 0, every step trained once with the ranks
//    in agreement, checkpoints, logs of every role, job.yaml private with the shard list.
// 2. USR1 (what Slurm sends before the time limit) stops the roles and requeues the job; the
//    requeued job resumes from the latest checkpoint and ends with the parameters of the
//    uninterrupted run of test 1. Its learners start through mpirun inside the allocation (the
//    fallback when Slurm has no PMIx), test 1's through the automatic choice (pmix here).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/job/tiny_job.h"
#include "tests/testing/files.h"
#include "tests/testing/process.h"

namespace memr1::job {
namespace {

using ::memr1::testing::ReadJsonLines;
using ::memr1::testing::ReadTextFile;
using ::memr1::testing::RunCommand;
using ::memr1::testing::RunMemr1;
using ::memr1::testing::TempDir;

// Enough steps (~0.4 s each) that USR1, sent after the first checkpoint, lands mid-job.
constexpr int kSteps = 16;
constexpr int kUnitsPerStep = 2;  // global batch 4 / group size 2
const char kClusterScript[] = MEMR1_SOURCE_DIR "/tests/deploy/slurm_cluster.sh";

// `scontrol show job -o ID` as key -> value.
std::map<std::string, std::string> JobFields(const std::string& id) {
  std::map<std::string, std::string> fields;
  const auto shown = RunCommand("scontrol show job -o " + id);
  for (absl::string_view word : absl::StrSplit(shown.output, absl::ByAnyChar(" \n"),
                                               absl::SkipEmpty())) {
    const size_t equals = word.find('=');
    if (equals != absl::string_view::npos) {
      fields[std::string(word.substr(0, equals))] = std::string(word.substr(equals + 1));
    }
  }
  return fields;
}

// Waits (bounded) until the job is in a state `done` accepts; returns its fields.
template <typename Done>
std::map<std::string, std::string> AwaitJob(const std::string& id, absl::Duration timeout,
                                            Done done) {
  const absl::Time deadline = absl::Now() + timeout;
  std::map<std::string, std::string> fields;
  while (absl::Now() < deadline) {
    fields = JobFields(id);
    if (done(fields)) return fields;
    absl::SleepFor(absl::Milliseconds(500));
  }
  return fields;
}

bool Finished(const std::map<std::string, std::string>& fields) {
  const auto it = fields.find("JobState");
  return it != fields.end() &&
         (it->second == "COMPLETED" || it->second == "FAILED" || it->second == "CANCELLED" ||
          it->second == "TIMEOUT" || it->second == "NODE_FAIL" || it->second == "OUT_OF_MEMORY");
}

class SlurmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("memr1_slurm");
    // munged serves its socket only from a directory every user can traverse, parents included.
    ::chmod(dir_->path().c_str(), 0755);
    cluster_ = dir_->Sub("cluster");
    const auto started = RunCommand(absl::StrCat(kClusterScript, " start ", cluster_));
    cluster_up_ = started.exit_code == 0;
    cluster_log_ = started.output;
    if (!cluster_up_) return;
    // Every Slurm command of this process and its children (sbatch, scontrol) talks to it.
    setenv("SLURM_CONF", (cluster_ + "/slurm.conf").c_str(), 1);
    // The jobs run a copy of memr1, as a cluster runs an installed one: a rebuild of the build
    // tree while a job runs (or waits to be requeued) does not change what it runs.
    binary_ = dir_->Sub("memr1");
    std::error_code copied;
    std::filesystem::copy_file(testing::Memr1Binary(), binary_, copied);
    ASSERT_FALSE(copied) << "copying " << testing::Memr1Binary() << ": " << copied.message();

    world_ = dir_->Sub("world.json");
    model_ = dir_->Sub("model");
    const absl::Status written = testing::WriteTinyJobFiles(world_, model_);
    ASSERT_TRUE(written.ok()) << written;
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) {
      const auto stopped = RunCommand(absl::StrCat(kClusterScript, " stop ", cluster_));
      if (stopped.exit_code != 0) ADD_FAILURE() << "tearing the cluster down:\n" << stopped.output;
    }
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(cluster_up_) << "the one-node Slurm cluster did not start:\n" << cluster_log_;
  }

  // The job config of the launch tests (2 shards, 2 actors, 2 learner ranks, a tiny model).
  std::string WriteConfig(const std::string& name) {
    const std::string path = dir_->Sub(name + ".yaml");
    testing::WriteTinyJobConfig(path, {name, dir_->Sub(name), model_, world_, "sync", kSteps,
                                       /*checkpoint_every=*/5});
    return path;
  }

  // `memr1 slurm submit`; returns the job id ("" on failure, with a test failure).
  std::string Submit(const std::string& config, const std::string& flags = "") {
    // Roles that ignore SIGTERM are killed after 10 s (not 30): the test stays short.
    const auto submitted = RunMemr1(absl::StrCat("slurm submit --memr1 ", binary_,
                                                 " --stop-grace-seconds 10 ", flags, " --config ",
                                                 config));
    std::smatch match;
    if (submitted.exit_code != 0 ||
        !std::regex_search(submitted.output, match, std::regex("submitted batch job ([0-9]+)"))) {
      ADD_FAILURE() << "submit failed (exit " << submitted.exit_code << "):\n" << submitted.output;
      return "";
    }
    return match[1];
  }

  // What a failed job left behind, for failure messages.
  std::string Diagnostics(const std::string& out, const std::string& id) {
    std::string text = absl::StrCat("--- slurm-", id, ".out:\n",
                                    ReadTextFile(absl::StrCat(out, "/slurm/slurm-", id, ".out")));
    for (const char* role : {"coordinator", "learner", "memstore-0", "actor-0", "actor-1"}) {
      const std::string log = ReadTextFile(absl::StrCat(out, "/logs/", role, ".log"));
      text += absl::StrCat("--- ", role, ".log (last 1500 bytes):\n",
                           log.size() > 1500 ? log.substr(log.size() - 1500) : log);
    }
    text += "--- squeue:\n" + RunCommand("squeue -a").output;
    text += "--- slurmctld.log (tail):\n" +
            RunCommand("tail -n 15 " + cluster_ + "/log/slurmctld.log").output;
    return text;
  }

  // The ranks' step lines agree, and the last one is step kSteps; returns its params hash.
  std::string ExpectTrainedAllSteps(const std::string& out, const std::string& why) {
    const auto rank0 = ReadJsonLines(out + "/metrics/learner-rank-0.jsonl");
    const auto rank1 = ReadJsonLines(out + "/metrics/learner-rank-1.jsonl");
    EXPECT_FALSE(rank0.empty()) << why;
    EXPECT_EQ(rank0.size(), rank1.size()) << why;
    if (rank0.empty() || rank0.size() != rank1.size()) return "";
    for (size_t i = 0; i < rank0.size(); ++i) {
      EXPECT_EQ(rank0[i]["params_sha256"], rank1[i]["params_sha256"]) << "line " << i << why;
    }
    EXPECT_EQ(rank0.back()["step"], kSteps) << why;
    EXPECT_EQ(ReadTextFile(out + "/checkpoints/LATEST"), absl::StrFormat("step-%08d\n", kSteps))
        << why;
    return rank0.back()["params_sha256"].get<std::string>();
  }

  static TempDir* dir_;
  static std::string cluster_;
  static bool cluster_up_;
  static std::string cluster_log_;
  static std::string world_;
  static std::string model_;
  static std::string binary_;
  // The final parameters of test 1's uninterrupted run ("" until it ran).
  static std::string uninterrupted_params_;
};

TempDir* SlurmTest::dir_ = nullptr;
std::string SlurmTest::cluster_;
bool SlurmTest::cluster_up_ = false;
std::string SlurmTest::cluster_log_;
std::string SlurmTest::world_;
std::string SlurmTest::model_;
std::string SlurmTest::binary_;
std::string SlurmTest::uninterrupted_params_;

TEST_F(SlurmTest, SubmittedJobRunsToDoneOnTheAllocation) {
  const std::string config = WriteConfig("slurm-done");
  const std::string out = dir_->Sub("slurm-done");
  const std::string id = Submit(config);
  ASSERT_FALSE(id.empty());
  const auto fields = AwaitJob(id, absl::Minutes(4), Finished);
  const std::string why = Diagnostics(out, id);
  ASSERT_EQ(fields.count("JobState"), 1u) << why;
  EXPECT_EQ(fields.at("JobState"), "COMPLETED") << why;
  EXPECT_EQ(fields.at("ExitCode"), "0:0") << why;

  // The batch script was written into the job's output directory, filled in for the job.
  const std::string script = ReadTextFile(out + "/slurm/memr1.sbatch");
  EXPECT_NE(script.find("#SBATCH --job-name=memr1-slurm-done"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --requeue"), std::string::npos);
  EXPECT_NE(script.find("JOB_CONFIG='" + config + "'"), std::string::npos);

  // The script's account: the layout, the learner launcher it chose, the end.
  const std::string log = ReadTextFile(absl::StrCat(out, "/slurm/slurm-", id, ".out"));
  const std::string launcher =
      RunCommand("srun --mpi=list 2>&1 | grep -qw pmix && echo pmix || echo mpirun").output;
  EXPECT_NE(log.find("learners: 2 rank(s) through " + launcher.substr(0, launcher.find('\n'))),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("layout: coordinator on"), std::string::npos) << log;
  EXPECT_NE(log.find("job done; logs in " + out + "/logs"), std::string::npos) << why;

  // Every unit once, every step trained once on identical ranks, checkpoints, every role's log.
  EXPECT_NE(ReadTextFile(out + "/logs/coordinator.log")
                .find(absl::StrCat("done, version ", kSteps, ", step ", kSteps, "/", kSteps,
                                   ", units done ", kSteps * kUnitsPerStep)),
            std::string::npos)
      << why;
  const auto rank0 = ReadJsonLines(out + "/metrics/learner-rank-0.jsonl");
  ASSERT_EQ(rank0.size(), static_cast<size_t>(kSteps)) << why;
  uninterrupted_params_ = ExpectTrainedAllSteps(out, why);
  EXPECT_NE(ReadTextFile(out + "/logs/learner.log")
                .find(absl::StrCat("published version ", kSteps, " (sha256 ",
                                   uninterrupted_params_)),
            std::string::npos);
  for (const char* file : {"/logs/memstore-0.log", "/logs/memstore-1.log", "/logs/actor-0.log",
                           "/logs/actor-1.log", "/metrics/learner.jsonl"}) {
    EXPECT_TRUE(std::filesystem::exists(out + file)) << file;
  }
  EXPECT_NE(ReadTextFile(out + "/logs/actor-1.log").find("loaded policy version"),
            std::string::npos);

  // job.yaml holds the job token: the owner's only; the shards' addresses are in it.
  struct stat info {};
  ASSERT_EQ(::stat((out + "/job.yaml").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const std::string job_yaml = ReadTextFile(out + "/job.yaml");
  EXPECT_TRUE(std::regex_search(
      job_yaml, std::regex("shards: \\[\"127\\.0\\.0\\.1:[0-9]+\", \"127\\.0\\.0\\.1:[0-9]+\"\\]")))
      << job_yaml;

  // A second submission into the same output directory is refused before anything is queued.
  const auto again = RunMemr1("slurm submit --config " + config);
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
}

TEST_F(SlurmTest, Usr1RequeuesTheJobAndItResumesFromTheLatestCheckpoint) {
  const std::string config = WriteConfig("slurm-requeue");
  const std::string out = dir_->Sub("slurm-requeue");
  // The learners through mpirun inside the allocation (the fallback when Slurm has no PMIx;
  // test 1 took the automatic choice).
  const std::string id = Submit(config, "--mpi mpirun");
  ASSERT_FALSE(id.empty());
  // Once step 1 is trained and checkpointed, USR1 to the batch script, as Slurm sends it
  // --signal=B:USR1@N before the time limit.
  const absl::Time deadline = absl::Now() + absl::Minutes(3);
  while (absl::Now() < deadline &&
         ReadTextFile(out + "/checkpoints/LATEST").rfind("step-", 0) != 0) {
    ASSERT_FALSE(Finished(JobFields(id))) << Diagnostics(out, id);
    absl::SleepFor(absl::Milliseconds(250));
  }
  ASSERT_EQ(ReadTextFile(out + "/checkpoints/LATEST").rfind("step-", 0), 0u)
      << "no checkpoint within 3 minutes\n"
      << Diagnostics(out, id);
  const auto signalled = RunCommand("scancel --batch --signal=USR1 " + id);
  ASSERT_EQ(signalled.exit_code, 0) << signalled.output;

  // The script stops the roles and requeues the job; Slurm holds a requeued job for two
  // minutes (BeginTime): it is released after 5 s here (slurmd refuses a launch whose
  // credential dates from the second the previous run's credential was revoked).
  const auto requeued = AwaitJob(id, absl::Minutes(2), [](const auto& fields) {
    const auto state = fields.find("JobState");
    const auto restarts = fields.find("Restarts");
    return state != fields.end() && state->second == "PENDING" && restarts != fields.end() &&
           restarts->second != "0";
  });
  ASSERT_NE(requeued.count("Restarts"), 0u) << Diagnostics(out, id);
  ASSERT_EQ(requeued.at("Restarts"), "1") << Diagnostics(out, id);
  ASSERT_EQ(requeued.at("JobState"), "PENDING") << Diagnostics(out, id);
  const auto released = RunCommand("scontrol update JobId=" + id + " StartTime=now+5");
  ASSERT_EQ(released.exit_code, 0) << released.output;

  const auto fields = AwaitJob(id, absl::Minutes(4), Finished);
  const std::string why = Diagnostics(out, id);
  ASSERT_EQ(fields.count("JobState"), 1u) << why;
  EXPECT_EQ(fields.at("JobState"), "COMPLETED") << why;
  EXPECT_EQ(fields.at("ExitCode"), "0:0") << why;
  const std::string log = ReadTextFile(absl::StrCat(out, "/slurm/slurm-", id, ".out"));
  // Where the requeued job resumed from (it depends on when USR1 landed), for the test's log.
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("resume:") != std::string::npos) std::cout << line << "\n";
  }
  EXPECT_NE(log.find("learners: 2 rank(s) through mpirun"), std::string::npos) << why;
  // Before stopping, the learners checkpointed after the step they had not started.
  EXPECT_NE(log.find("checkpoint requested after step"), std::string::npos) << why;
  EXPECT_NE(log.find("checkpoint written: "), std::string::npos) << why;
  EXPECT_NE(log.find("USR1: stopping the roles and requeueing the job"), std::string::npos) << why;
  EXPECT_NE(log.find("(restart 1)"), std::string::npos) << why;
  EXPECT_TRUE(std::regex_search(log, std::regex("resume: the job was [A-Z_]+; continuing from ")))
      << why;
  EXPECT_NE(log.find("job done; logs in"), std::string::npos) << why;
  // The shards came back on their addresses (one node), so their data stayed valid.
  EXPECT_EQ(log.find("banks are built again"), std::string::npos) << why;

  // The requeued job ended where the uninterrupted one did.
  const std::string params = ExpectTrainedAllSteps(out, why);
  if (!uninterrupted_params_.empty()) {
    EXPECT_EQ(params, uninterrupted_params_) << "resumed training differs from the "
                                                "uninterrupted run\n"
                                             << why;
  }
}

}  // namespace
}  // namespace memr1::job
