// `memr1 coordinator`: serve a job's coordinator until the job ends or SIGINT/SIGTERM.
// `memr1 status`: print a running job's state as its coordinator sees it.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/command.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "coordinator/client.h"
#include "coordinator/resume.h"
#include "coordinator/server.h"

namespace memr1::cli {
namespace {

const char* RoleName(v1::RoleKind kind) {
  switch (kind) {
    case v1::ROLE_KIND_ACTOR:
      return "actor";
    case v1::ROLE_KIND_LEARNER:
      return "learner";
    case v1::ROLE_KIND_MEMSTORE:
      return "memstore";
    default:
      return "unknown";
  }
}

absl::Status WriteAddressFile(const std::string& path, const std::string& address) {
  // Written whole, then renamed: a reader never sees a partial address.
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << address << "\n";
    if (!out.good()) return absl::InternalError(absl::StrCat("cannot write '", temp, "'"));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename '", temp, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

struct CoordinatorFlags {
  ConfigFlags config;
  std::string listen;
  std::string address_file;
  std::string state_dir;
  bool resume = false;
  std::string checkpoints;
};

absl::Status Serve(const CoordinatorFlags& flags) {
  // Block SIGINT/SIGTERM before any thread starts (gRPC and RocksDB start threads).
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ShutdownSignal> shutdown, ShutdownSignal::Install());
  SetLogContext("coordinator", -1);
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig config,
                         LoadJobConfig(flags.config.path, flags.config.overrides));
  MEMR1_ASSIGN_OR_RETURN(coordinator::ServerOptions options,
                         coordinator::ServerOptionsFromConfig(config));
  if (!flags.listen.empty()) options.listen = flags.listen;
  if (!flags.state_dir.empty()) options.state_dir = flags.state_dir;
  if (flags.resume) {
    // The rollback opens the state itself, with a stream of its own.
    MEMR1_ASSIGN_OR_RETURN(coordinator::ServerOptions rollback,
                           coordinator::ServerOptionsFromConfig(config));
    rollback.state_dir = options.state_dir;
    const std::string checkpoints =
        flags.checkpoints.empty()
            ? (std::filesystem::path(config.output_dir()) / "checkpoints").string()
            : flags.checkpoints;
    MEMR1_ASSIGN_OR_RETURN(const coordinator::ResumeOutcome resumed,
                           coordinator::RollBackToCheckpoint(std::move(rollback), checkpoints));
    std::cout << "coordinator: " << resumed.message << std::endl;
    if (resumed.already_done) return absl::OkStatus();
  }
  const coordinator::JobOptions job = options.job;
  const std::string state_dir = options.state_dir;
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<coordinator::CoordinatorServer> server,
                         coordinator::CoordinatorServer::Start(std::move(options)));
  if (!flags.address_file.empty()) {
    MEMR1_RETURN_IF_ERROR(WriteAddressFile(flags.address_file, server->address()));
  }
  std::cout << "coordinator: job " << config.name() << " serving on " << server->address()
            << " (state " << state_dir << "; " << job.total_steps << " steps of "
            << job.units_per_step << " units, " << job.num_ranks << " learner rank(s), "
            << (job.async ? absl::StrCat("async, staleness ", job.max_staleness) : "sync") << ")"
            << std::endl;
  v1::JobPhase shown = v1::JOB_PHASE_UNSPECIFIED;
  int64_t shown_version = -2;
  v1::StatusResponse status;
  while (true) {
    status = server->Snapshot();
    if (status.phase() != shown || status.policy_version() != shown_version) {
      std::cout << "coordinator: " << coordinator::JobPhaseName(status.phase()) << ", version "
                << status.policy_version() << ", step " << status.step() << "/"
                << status.total_steps() << ", units done " << status.units_done()
                << (status.error().empty() ? "" : ", error: ") << status.error() << std::endl;
      shown = status.phase();
      shown_version = status.policy_version();
    }
    if (status.phase() == v1::JOB_PHASE_DONE || status.phase() == v1::JOB_PHASE_FAILED) break;
    if (shutdown->WaitFor(absl::Milliseconds(500))) break;
  }
  // Let the roles see the final phase on their next heartbeat before the server goes away.
  if (status.phase() == v1::JOB_PHASE_DONE || status.phase() == v1::JOB_PHASE_FAILED) {
    shutdown->WaitFor(absl::Milliseconds(
        std::min<int64_t>(absl::ToInt64Milliseconds(job.heartbeat_interval) * 2, 10000)));
  }
  server->Close();
  if (status.phase() == v1::JOB_PHASE_FAILED) {
    return absl::AbortedError(absl::StrCat("job ", config.name(), " failed: ", status.error()));
  }
  return absl::OkStatus();
}

// How `memr1 status` and `memr1 checkpoint` reach a running coordinator.
struct ConnectFlags {
  std::string coordinator;
  std::string job_token;
  std::string config;
  std::vector<std::string> overrides;
};

void AddConnectFlags(CLI::App* command, ConnectFlags* flags) {
  command->add_option("--coordinator", flags->coordinator, "host:port of the coordinator")
      ->required();
  command->add_option("--job-token", flags->job_token, "The job token");
  command->add_option("--config", flags->config, "Job config (for its job_token)")
      ->check(CLI::ExistingFile);
  command->add_option("--set", flags->overrides, "Override one config field (repeatable)")
      ->take_all();
}

absl::StatusOr<std::unique_ptr<coordinator::CoordinatorClient>> ConnectTo(
    const ConnectFlags& flags) {
  coordinator::ClientOptions options;
  options.address = flags.coordinator;
  options.job_token = flags.job_token;
  options.channel.max_attempts = 1;
  if (flags.job_token.empty() && !flags.config.empty()) {
    MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig config,
                           LoadJobConfig(flags.config, flags.overrides));
    options.job_token = config.job_token();
  }
  return coordinator::CoordinatorClient::Connect(options);
}

struct StatusFlags {
  ConnectFlags connect;
  bool json = false;
};

struct CheckpointFlags {
  ConnectFlags connect;
  std::string reason = "requested with memr1 checkpoint";
  double wait_seconds = 0;
};

// `memr1 checkpoint`: asks for a checkpoint after the earliest step not yet handed to the
// learners; with --wait, returns once the coordinator recorded it (or fails at the deadline).
absl::Status RequestCheckpoint(const CheckpointFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<coordinator::CoordinatorClient> client,
                         ConnectTo(flags.connect));
  MEMR1_ASSIGN_OR_RETURN(const int64_t step, client->RequestCheckpoint(flags.reason));
  std::cout << "checkpoint requested after step " << step << " (version " << step + 1 << ")"
            << std::endl;
  if (flags.wait_seconds <= 0) return absl::OkStatus();
  const absl::Time deadline = absl::Now() + absl::Seconds(flags.wait_seconds);
  while (true) {
    absl::StatusOr<v1::StatusResponse> status = client->Status();
    if (status.ok()) {
      if (status->latest_checkpoint_version() >= step + 1) {
        std::cout << "checkpoint written: " << status->latest_checkpoint() << std::endl;
        return absl::OkStatus();
      }
      if (status->phase() == v1::JOB_PHASE_FAILED) {
        return absl::AbortedError(absl::StrCat("the job failed before the checkpoint: ",
                                               status->error()));
      }
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the checkpoint of version ", step + 1, " was not written within ", flags.wait_seconds,
          " s", status.ok() ? "" : absl::StrCat(" (", status.status().message(), ")")));
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
}

std::string FormatAge(int64_t last_ms, int64_t now_ms) {
  if (last_ms <= 0) return "never";
  return absl::StrFormat("%.1fs ago", static_cast<double>(now_ms - last_ms) / 1000.0);
}

absl::Status PrintStatus(const StatusFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<coordinator::CoordinatorClient> client,
                         ConnectTo(flags.connect));
  MEMR1_ASSIGN_OR_RETURN(const v1::StatusResponse status, client->Status());
  if (flags.json) {
    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    const auto printed = google::protobuf::util::MessageToJsonString(status, &json, print);
    if (!printed.ok()) {
      return absl::InternalError(absl::StrCat("status as JSON: ", printed.ToString()));
    }
    std::cout << json << std::endl;
    return absl::OkStatus();
  }
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::cout << "phase:        " << coordinator::JobPhaseName(status.phase()) << "\n";
  if (!status.error().empty()) std::cout << "error:        " << status.error() << "\n";
  std::cout << "step:         " << status.step() << " / " << status.total_steps() << "\n";
  std::cout << "version:      " << status.policy_version()
            << (status.policy_hash().empty() ? "" : absl::StrCat(" (", status.policy_hash(), ")"))
            << "\n";
  std::cout << "units:        pending " << status.units_pending() << ", leased "
            << status.units_leased() << ", done " << status.units_done() << ", re-leased "
            << status.units_released() << "\n";
  std::cout << "late completions refused: " << status.late_completions_refused() << "\n";
  std::cout << absl::StrFormat("trajectories/s: %.2f\n", status.trajectories_per_second());
  if (!status.latest_checkpoint().empty()) {
    std::cout << "checkpoint:   " << status.latest_checkpoint() << "\n";
  }
  if (!status.metrics().empty()) {
    std::map<std::string, double> sorted(status.metrics().begin(), status.metrics().end());
    std::cout << "metrics:     ";
    for (const auto& [name, value] : sorted) std::cout << absl::StrFormat(" %s=%.4g", name, value);
    std::cout << "\n";
  }
  std::cout << absl::StrFormat("\n%-9s %-20s %-22s %-8s %-12s %-8s %s\n", "role", "id",
                               "address", "health", "heartbeat", "version", "gauges");
  for (const v1::RoleStatus& role : status.roles()) {
    const std::map<std::string, double> gauges(role.gauges().begin(), role.gauges().end());
    std::string shown;
    for (const auto& [name, value] : gauges) {
      absl::StrAppend(&shown, shown.empty() ? "" : " ", absl::StrFormat("%s=%.4g", name, value));
    }
    std::cout << absl::StrFormat(
        "%-9s %-20s %-22s %-8s %-12s %-8d %s\n", RoleName(role.role()), role.role_id(),
        role.address(), role.healthy() ? "healthy" : "LOST",
        FormatAge(role.last_heartbeat_unix_ms(), now_ms), role.policy_version(), shown);
  }
  std::cout << std::flush;
  return absl::OkStatus();
}

void RegisterCoordinatorCommands(CLI::App& app, CommandRunner& runner) {
  auto serve_flags = std::make_shared<CoordinatorFlags>();
  CLI::App* serve = app.add_subcommand(
      "coordinator", "Serve the job's coordinator until the job is done or failed, or SIGINT");
  AddConfigFlags(serve, &serve_flags->config);
  serve->add_option("--listen", serve_flags->listen,
                    "host:port to bind (port 0: any); default coordinator.listen");
  serve->add_option("--address-file", serve_flags->address_file,
                    "Write the bound host:port to this file once serving");
  serve->add_option("--state-dir", serve_flags->state_dir,
                    "RocksDB state directory; default coordinator.state_dir or "
                    "<output_dir>/coordinator");
  serve->add_flag("--resume", serve_flags->resume,
                  "First roll the job back to the learners' latest checkpoint (a requeued or "
                  "restarted job; start the learners with --resume too); exits at once when the "
                  "job is already done");
  serve->add_option("--checkpoints", serve_flags->checkpoints,
                    "The learners' checkpoint directory for --resume; default "
                    "<output_dir>/checkpoints");
  runner.Bind(serve, [serve_flags]() { return Serve(*serve_flags); });

  auto status_flags = std::make_shared<StatusFlags>();
  CLI::App* status =
      app.add_subcommand("status", "Print a running job's phase, progress and role health");
  AddConnectFlags(status, &status_flags->connect);
  status->add_flag("--json", status_flags->json,
                   "Print the coordinator's whole status as one JSON object (proto field names)");
  runner.Bind(status, [status_flags]() { return PrintStatus(*status_flags); });

  auto checkpoint_flags = std::make_shared<CheckpointFlags>();
  CLI::App* checkpoint = app.add_subcommand(
      "checkpoint",
      "Ask a running job to checkpoint after the earliest step not yet handed to the learners "
      "(before a preemption or the end of an allocation)");
  AddConnectFlags(checkpoint, &checkpoint_flags->connect);
  checkpoint->add_option("--reason", checkpoint_flags->reason, "Logged by the coordinator");
  checkpoint->add_option("--wait", checkpoint_flags->wait_seconds,
                         "Wait up to this many seconds for the checkpoint to be written "
                         "(exit 1 if it is not)")
      ->check(CLI::NonNegativeNumber);
  runner.Bind(checkpoint, [checkpoint_flags]() { return RequestCheckpoint(*checkpoint_flags); });
}

const CommandRegistration kRegistration(75, RegisterCoordinatorCommands);

}  // namespace
}  // namespace memr1::cli
