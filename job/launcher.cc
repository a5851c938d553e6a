#include "job/launcher.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/child_process.h"
#include "common/config.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "coordinator/client.h"
#include "coordinator/job_state.h"
#include "coordinator/resume.h"
#include "coordinator/server.h"
#include "coordinator/state_store.h"

namespace memr1::job {
namespace {

namespace fs = std::filesystem;

// Restarts of one role within a launch (each costs only the role's in-flight work).
constexpr int kMaxRestarts = 3;

// Which dead children are restarted: an actor whenever it fails (its units are re-leased); a
// memstore shard or the coordinator only when a signal killed it (kill -9, the OOM killer), on
// its own data and address — one that exited with an error of its own (a bad config, a FAILED
// job) would only fail again, and the job must stop with that error.
bool Restartable(const std::string& name, int code) {
  if (name.rfind("actor-", 0) == 0) return code != 0;
  if (name == "coordinator" || name.rfind("memstore-", 0) == 0) return code > 128;
  return false;
}

// 128 random bits as hex: the job token when the config names none.
std::string RandomToken() {
  std::random_device device;
  std::string token;
  for (int i = 0; i < 4; ++i) token += absl::StrFormat("%08x", device());
  return token;
}

absl::StatusOr<std::string> SelfExecutable() {
  char buffer[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return absl::InternalError("cannot resolve /proc/self/exe");
  return std::string(buffer, static_cast<size_t>(n));
}

absl::Status WritePrivateFile(const fs::path& path, const std::string& text) {
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << text;
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write '", temp.string(), "'"));
  }
  // The file holds the job token: readable by the owner only.
  ::chmod(temp.c_str(), 0600);
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot rename '", temp.string(), "' to '",
                                            path.string(), "': ", ec.message()));
  }
  return absl::OkStatus();
}


class Launch {
 public:
  Launch(const LaunchOptions& options, ShutdownSignal* shutdown)
      : options_(options), shutdown_(shutdown), sink_(options.out) {}

  ~Launch() { StopAll(); }

  absl::StatusOr<LaunchResult> Run();

 private:
  absl::Status Prepare();
  absl::Status StartChild(const std::string& name, std::vector<std::string> argv);
  // Waits for `path` to hold an address while `name` runs.
  absl::StatusOr<std::string> AwaitAddress(const std::string& name, const fs::path& path);
  // From now on `name` restarts on `address` (its port was picked by the OS at the first start;
  // the shard list in job.yaml and the roles' channels keep pointing at it).
  void PinAddress(const std::string& name, const std::string& address);
  // Aborted naming a child that exited with a non-zero code, if any.
  absl::Status CheckChildren();
  absl::Status Failure(const std::string& name, int code);
  void ShowProgress(const v1::StatusResponse& status);
  void StopAll();
  // Overwrites the phase and error of `status` with those in the coordinator's state directory
  // (read once the coordinator has exited; unchanged when it cannot be read).
  void FinalPhaseFromState(v1::StatusResponse* status);
  bool Interrupted() const { return shutdown_ != nullptr && shutdown_->requested(); }

  const LaunchOptions& options_;
  ShutdownSignal* const shutdown_;
  LogSink sink_;
  v1::JobConfig config_;
  fs::path output_;
  fs::path config_file_;
  fs::path state_dir_;
  // --resume: the shard addresses of the run being resumed (empty: pick new ports).
  std::vector<std::string> previous_shards_;
  std::string binary_;
  // In start order; stopped in reverse order.
  std::vector<std::unique_ptr<ChildProcess>> children_;
  std::map<std::string, int> exited_;
  // How each child was started, for restarts (see Restartable).
  std::map<std::string, std::vector<std::string>> argv_;
  std::map<std::string, int> restarts_;
  std::unique_ptr<coordinator::CoordinatorClient> client_;
  int64_t shown_step_ = -1;
  v1::JobPhase shown_phase_ = v1::JOB_PHASE_UNSPECIFIED;
};

absl::Status Launch::Prepare() {
  MEMR1_ASSIGN_OR_RETURN(config_, LoadJobConfig(options_.config_path, options_.overrides));
  if (config_.job_token().empty()) config_.set_job_token(RandomToken());
  std::error_code ec;
  output_ = fs::absolute(config_.output_dir(), ec);
  config_.set_output_dir(output_.string());
  MEMR1_RETURN_IF_ERROR(coordinator::CheckNewJob(config_, options_.resume));
  for (const char* sub : {"logs", "metrics", "checkpoints", "addresses"}) {
    fs::create_directories(output_ / sub, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", (output_ / sub).string(), ": ", ec.message()));
    }
  }
  state_dir_ = coordinator::JobStateDir(config_);
  fs::create_directories(state_dir_, ec);
  // Stale address files of an earlier run must not be mistaken for this run's.
  for (const auto& entry : fs::directory_iterator(output_ / "addresses", ec)) {
    fs::remove(entry.path(), ec);
  }
  binary_ = options_.memr1_binary;
  if (binary_.empty()) {
    MEMR1_ASSIGN_OR_RETURN(binary_, SelfExecutable());
  }
  config_file_ = output_ / "job.yaml";
  if (options_.resume && fs::exists(config_file_)) {
    // The shards' data is keyed to the shard list it was written with: a resumed job's shards
    // serve on the addresses of the first run.
    absl::StatusOr<v1::JobConfig> previous = LoadJobConfig(config_file_.string(), {});
    if (previous.ok()) {
      previous_shards_.assign(previous->memstore().shards().begin(),
                              previous->memstore().shards().end());
    }
  }
  return WritePrivateFile(config_file_, MessageToYaml(config_));
}

absl::Status Launch::StartChild(const std::string& name, std::vector<std::string> argv) {
  MEMR1_RETURN_IF_ERROR(sink_.AddFile(name, (output_ / "logs" / (name + ".log")).string()));
  argv_[name] = argv;
  ChildOptions child;
  child.name = name;
  child.argv = std::move(argv);
  sink_.Write("launch", absl::StrCat("starting ", name, ": ", absl::StrJoin(child.argv, " ")));
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> process, ChildProcess::Start(child, &sink_));
  sink_.Write("launch", absl::StrCat(name, " is pid ", process->pid()));
  children_.push_back(std::move(process));
  return absl::OkStatus();
}

absl::Status Launch::Failure(const std::string& name, int code) {
  const std::vector<std::string> tail = sink_.Tail(name, 20);
  return absl::AbortedError(absl::StrCat(name, " exited with code ", code, " (log ",
                                         (output_ / "logs" / (name + ".log")).string(),
                                         "); its last lines:\n  ", absl::StrJoin(tail, "\n  ")));
}

absl::Status Launch::CheckChildren() {
  for (auto& child : children_) {
    if (exited_.count(child->name()) > 0) continue;
    const std::optional<int> code = child->Poll();
    if (!code.has_value()) continue;
    const std::string name = child->name();
    if (Restartable(name, *code) && restarts_[name] < kMaxRestarts && !Interrupted()) {
      // A lost actor costs only its leased units, which the coordinator re-leases (attempt + 1);
      // a restarted shard serves its RocksDB data again (acknowledged operations are in its
      // WAL) and the actors retry the episodes that failed against it; a restarted coordinator
      // resumes from its state directory and the roles register again.
      ++restarts_[name];
      sink_.Write("launch", absl::StrCat(name, " exited with code ", *code, "; restarting it (",
                                         restarts_[name], "/", kMaxRestarts, ")"));
      ChildOptions restart;
      restart.name = name;
      restart.argv = argv_[name];
      MEMR1_ASSIGN_OR_RETURN(child, ChildProcess::Start(restart, &sink_));
      sink_.Write("launch", absl::StrCat(name, " is pid ", child->pid()));
      continue;
    }
    exited_[name] = *code;
    if (*code != 0) return Failure(name, *code);
    sink_.Write("launch", absl::StrCat(child->name(), " exited cleanly"));
  }
  return absl::OkStatus();
}

void Launch::PinAddress(const std::string& name, const std::string& address) {
  std::vector<std::string>& argv = argv_[name];
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--listen") {
      argv[i + 1] = address;
      return;
    }
  }
  argv.insert(argv.end(), {"--listen", address});
}

absl::StatusOr<std::string> Launch::AwaitAddress(const std::string& name, const fs::path& path) {
  const absl::Time deadline = absl::Now() + options_.address_timeout;
  while (true) {
    std::ifstream in(path);
    std::string address;
    if (in && std::getline(in, address) && !address.empty()) return address;
    MEMR1_RETURN_IF_ERROR(CheckChildren());
    if (exited_.count(name) > 0) {
      return absl::AbortedError(absl::StrCat(name, " exited before writing ", path.string()));
    }
    if (Interrupted()) return absl::CancelledError("interrupted while starting the job");
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name, " did not write its address to ", path.string(), " within ",
                       absl::FormatDuration(options_.address_timeout)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

void Launch::ShowProgress(const v1::StatusResponse& status) {
  if (status.step() == shown_step_ && status.phase() == shown_phase_) return;
  shown_step_ = status.step();
  shown_phase_ = status.phase();
  const auto& m = status.metrics();
  auto metric = [&m](const char* key) {
    auto it = m.find(key);
    return it == m.end() ? 0.0 : it->second;
  };
  sink_.Write("launch",
              absl::StrFormat("%s: step %d/%d, version %d, units done %d (re-leased %d), "
                              "reward %.3f, loss %.4f, %.0f tokens/s, %.1f trajectories/s",
                              coordinator::JobPhaseName(status.phase()), status.step(),
                              status.total_steps(), status.policy_version(), status.units_done(),
                              status.units_released(), metric("reward_mean"), metric("loss"),
                              metric("tokens_per_second"), status.trajectories_per_second()));
}

void Launch::FinalPhaseFromState(v1::StatusResponse* status) {
  absl::StatusOr<std::unique_ptr<coordinator::StateStore>> store =
      coordinator::StateStore::Open(state_dir_.string());
  if (!store.ok()) return;
  absl::StatusOr<coordinator::LoadedState> loaded = (*store)->Load();
  if (!loaded.ok() || loaded->fresh) return;
  status->set_phase(loaded->meta.phase);
  status->set_error(loaded->meta.error);
  int64_t done = 0;
  for (const coordinator::UnitRecord& unit : loaded->units) {
    done += unit.state == coordinator::UnitState::kDone ? 1 : 0;
  }
  status->set_units_done(done);
  status->set_policy_version(static_cast<int64_t>(loaded->versions.size()) - 1);
}

void Launch::StopAll() {
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    if (exited_.count((*it)->name()) == 0) exited_[(*it)->name()] = (*it)->Stop(absl::Seconds(10));
  }
}

absl::StatusOr<LaunchResult> Launch::Run() {
  MEMR1_RETURN_IF_ERROR(Prepare());
  LaunchResult result;
  result.output_dir = output_.string();
  const std::string config_flag = config_file_.string();
  const fs::path addresses = output_ / "addresses";
  // --resume: the coordinator's state is first rolled back to the learners' checkpoint.
  if (options_.resume) {
    MEMR1_ASSIGN_OR_RETURN(coordinator::ServerOptions server,
                           coordinator::ServerOptionsFromConfig(config_));
    MEMR1_ASSIGN_OR_RETURN(
        const coordinator::ResumeOutcome resumed,
        coordinator::RollBackToCheckpoint(std::move(server), (output_ / "checkpoints").string()));
    sink_.Write("launch", resumed.message);
    if (resumed.already_done) {
      result.status.set_phase(v1::JOB_PHASE_DONE);
      return result;
    }
  }

  // 1. Memstore shards; their addresses go into job.yaml for the actors.
  const int shards = config_.memstore().num_shards();
  for (int i = 0; i < shards; ++i) {
    const std::string name = absl::StrCat("memstore-", i);
    MEMR1_RETURN_IF_ERROR(StartChild(
        name, {binary_, "memstore", "serve", "--config", config_flag, "--data-dir",
               (output_ / name).string(), "--listen",
               static_cast<int>(previous_shards_.size()) == shards ? previous_shards_[i]
                                                                   : std::string("127.0.0.1:0"),
               "--address-file", (addresses / name).string()}));
  }
  config_.mutable_memstore()->clear_shards();
  for (int i = 0; i < shards; ++i) {
    const std::string name = absl::StrCat("memstore-", i);
    MEMR1_ASSIGN_OR_RETURN(const std::string address, AwaitAddress(name, addresses / name));
    PinAddress(name, address);
    config_.mutable_memstore()->add_shards(address);
  }
  MEMR1_RETURN_IF_ERROR(WritePrivateFile(config_file_, MessageToYaml(config_)));

  // 2. The coordinator.
  MEMR1_RETURN_IF_ERROR(
      StartChild("coordinator", {binary_, "coordinator", "--config", config_flag, "--address-file",
                                 (addresses / "coordinator").string()}));
  MEMR1_ASSIGN_OR_RETURN(const std::string coordinator_address,
                         AwaitAddress("coordinator", addresses / "coordinator"));
  PinAddress("coordinator", coordinator_address);
  coordinator::ClientOptions client_options;
  client_options.address = coordinator_address;
  client_options.job_token = config_.job_token();
  client_options.timeout = absl::Seconds(5);
  client_options.channel.max_attempts = 1;
  MEMR1_ASSIGN_OR_RETURN(client_, coordinator::CoordinatorClient::Connect(client_options));

  // 3. Learners.
  const int ranks = config_.learner().num_ranks();
  std::vector<std::string> learner;
  if (ranks > 1) {
    learner = options_.mpirun;
    learner.insert(learner.end(), {"-np", absl::StrCat(ranks)});
  }
  learner.insert(learner.end(), {binary_, "learner", "run", "--config", config_flag,
                                 "--coordinator", coordinator_address});
  if (options_.resume) learner.push_back("--resume");
  MEMR1_RETURN_IF_ERROR(StartChild("learner", learner));

  // 4. Actors.
  for (int i = 0; i < config_.actor().num_actors(); ++i) {
    const std::string name = absl::StrCat("actor-", i);
    MEMR1_RETURN_IF_ERROR(StartChild(name, {binary_, "actor", "--config", config_flag,
                                            "--coordinator", coordinator_address, "--id", name}));
  }

  // 5. Watch.
  const absl::Time started = absl::Now();
  absl::Status failure;
  while (true) {
    failure = CheckChildren();
    if (!failure.ok()) break;
    auto status = client_->Status();
    if (status.ok()) {
      result.status = *status;
      ShowProgress(*status);
    }
    if (exited_.count("coordinator") > 0) {
      if (result.status.phase() != v1::JOB_PHASE_DONE) {
        // The last poll may predate the end (a restarted coordinator can find the job already
        // DONE and exit at once): the state directory has the final word.
        FinalPhaseFromState(&result.status);
      }
      if (result.status.phase() != v1::JOB_PHASE_DONE) {
        failure = absl::AbortedError(absl::StrCat("the coordinator exited with the job ",
                                                  coordinator::JobPhaseName(result.status.phase()),
                                                  result.status.error().empty() ? "" : ": ",
                                                  result.status.error()));
      }
      break;
    }
    if (Interrupted()) {
      failure = absl::CancelledError("interrupted (Ctrl-C): the job was stopped");
      break;
    }
    if (options_.job_timeout > absl::ZeroDuration() &&
        absl::Now() - started > options_.job_timeout) {
      failure = absl::DeadlineExceededError(absl::StrCat(
          "the job did not finish within ", absl::FormatDuration(options_.job_timeout)));
      break;
    }
    if (shutdown_ != nullptr) {
      shutdown_->WaitFor(options_.poll_interval);
    } else {
      absl::SleepFor(options_.poll_interval);
    }
  }

  if (failure.ok()) {
    // DONE: the roles see `stop` or `done` and exit on their own.
    // Memstore shards serve until stopped (below), so only the other roles are waited for.
    auto roles_running = [this] {
      for (const auto& child : children_) {
        if (child->name().rfind("memstore-", 0) != 0 && exited_.count(child->name()) == 0) {
          return true;
        }
      }
      return false;
    };
    const absl::Time deadline = absl::Now() + options_.exit_grace;
    while (absl::Now() < deadline && roles_running()) {
      failure = CheckChildren();
      if (!failure.ok()) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    if (failure.ok()) {
      // The roles' own measure of waiting (actors: for work; learners: for accepted units and
      // their trajectories), as of their last heartbeat: what sync vs async mode changes.
      std::vector<std::string> idle;
      for (const v1::RoleStatus& role : result.status.roles()) {
        const auto it = role.gauges().find("idle_fraction");
        if (it != role.gauges().end()) {
          idle.push_back(absl::StrFormat("%s %.3f", role.role_id(), it->second));
        }
      }
      if (!idle.empty()) {
        sink_.Write("launch", absl::StrCat("idle fractions: ", absl::StrJoin(idle, ", ")));
      }
      sink_.Write("launch",
                  absl::StrCat("job ", config_.name(), " done: ", result.status.units_done(),
                               " units, version ", result.status.policy_version(), ", outputs in ",
                               output_.string()));
    }
  }
  if (!failure.ok()) {
    sink_.Write("launch", absl::StrCat("stopping the job: ", failure.message()));
    if (exited_.count("coordinator") == 0 && client_ != nullptr) {
      // The roles see the FAILED phase and stop; the children are stopped below regardless.
      (void)client_->Shutdown(std::string(failure.message()).substr(0, 500));
    }
  }
  StopAll();
  if (!failure.ok()) return failure;
  return result;
}

}  // namespace

absl::StatusOr<LaunchResult> RunLaunch(const LaunchOptions& options, ShutdownSignal* shutdown) {
  Launch launch(options, shutdown);
  return launch.Run();
}

}  // namespace memr1::job
