// `memr1 memstore serve|bench`: run one memstore shard, and benchmark a running one.

#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/command.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "memstore/bench_runner.h"
#include "memstore/server.h"

namespace memr1::cli {

namespace {

struct JobFlags {
  std::string config;
  std::vector<std::string> overrides;
  std::string job;
  std::string job_token;
  bool job_token_given = false;
};

void AddJobFlags(CLI::App* command, JobFlags* flags) {
  command->add_option("--config", flags->config, "Job config (YAML); defaults when omitted")
      ->check(CLI::ExistingFile);
  command->add_option("--set", flags->overrides, "Override one config field (repeatable)")
      ->take_all();
  command->add_option("--job", flags->job, "Job (tenant) name; default: the config's name");
  command->add_option("--job-token", flags->job_token, "Job token; default: the config's job_token")
      ->each([flags](const std::string&) { flags->job_token_given = true; });
}

absl::StatusOr<v1::JobConfig> LoadConfig(const JobFlags& flags) {
  v1::JobConfig config;
  if (flags.config.empty()) {
    MEMR1_ASSIGN_OR_RETURN(config, LoadJobConfigFromText("{}", "defaults", flags.overrides));
  } else {
    MEMR1_ASSIGN_OR_RETURN(config, LoadJobConfig(flags.config, flags.overrides));
  }
  if (!flags.job.empty()) config.set_name(flags.job);
  if (flags.job_token_given) config.set_job_token(flags.job_token);
  return config;
}

absl::StatusOr<std::vector<int>> ParseIntList(const std::string& text, const char* flag) {
  std::vector<int> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int value = 0;
    if (!absl::SimpleAtoi(part, &value) || value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": '", part, "' is not a positive integer"));
    }
    values.push_back(value);
  }
  if (values.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": empty list"));
  return values;
}

struct ServeFlags {
  JobFlags job;
  std::string data_dir;
  std::string listen;
  std::string address_file;
  std::vector<std::string> tenants;
};

absl::Status Serve(const ServeFlags& flags) {
  // Block SIGINT/SIGTERM before any thread starts (gRPC and RocksDB start threads).
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ShutdownSignal> shutdown, ShutdownSignal::Install());
  SetLogContext("memstore", -1);
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig config, LoadConfig(flags.job));
  memstore::ServerOptions options = memstore::ServerOptionsFromConfig(config);
  options.store.data_dir = flags.data_dir;
  options.listen = flags.listen;
  for (const std::string& tenant : flags.tenants) {
    const size_t equals = tenant.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tenant '", tenant, "': expected JOB=TOKEN"));
    }
    options.job_tokens[tenant.substr(0, equals)] = tenant.substr(equals + 1);
  }
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<memstore::MemstoreServer> server,
                         memstore::MemstoreServer::Start(options));
  if (!flags.address_file.empty()) {
    // Written whole, then renamed: a reader never sees a partial address.
    MEMR1_RETURN_IF_ERROR(WriteFileAtomically(flags.address_file, server->address() + "\n"));
  }
  std::unique_ptr<MetricsServer> metrics;
  if (!config.observability().metrics_listen().empty()) {
    MEMR1_ASSIGN_OR_RETURN(metrics, MetricsServer::Start(config.observability().metrics_listen(),
                                                         &MetricsRegistry::Default()));
    MEMR1_LOG(INFO) << "memstore: Prometheus metrics on http://" << metrics->address()
                    << "/metrics";
  }
  MEMR1_LOG(INFO) << "memstore shard serving on " << server->address() << " (data dir "
                  << flags.data_dir << ", " << options.job_tokens.size() << " job(s))";
  std::cout << "memstore: serving on " << server->address() << std::endl;
  while (!shutdown->WaitFor(absl::Seconds(1))) {
  }
  MEMR1_LOG(INFO) << "memstore shard shutting down";
  server->Close();
  return absl::OkStatus();
}

struct BenchFlags {
  JobFlags job;
  std::string target;
  std::string clients = "1,4,16";
  int requests = 200;
  int ops_per_apply = 1;
  int search_memories = 1000;
  std::string fork_sizes = "100,1000,10000";
  int forks = 16;
  std::string bank_prefix = "bench";
};

absl::Status Bench(const BenchFlags& flags) {
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig config, LoadConfig(flags.job));
  memstore::BenchOptions options;
  options.target = flags.target;
  options.client = memstore::ClientOptions::FromConfig(config);
  MEMR1_ASSIGN_OR_RETURN(options.clients, ParseIntList(flags.clients, "--clients"));
  MEMR1_ASSIGN_OR_RETURN(options.fork_sizes, ParseIntList(flags.fork_sizes, "--fork-sizes"));
  options.requests_per_client = flags.requests;
  options.ops_per_apply = flags.ops_per_apply;
  options.search_memories = flags.search_memories;
  options.forks_per_size = flags.forks;
  options.bank_prefix = flags.bank_prefix;
  MEMR1_ASSIGN_OR_RETURN(const memstore::BenchReport report, memstore::RunBench(options));
  std::cout << report.ToMarkdown();
  return absl::OkStatus();
}

void RegisterMemstoreCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* memstore = app.add_subcommand("memstore", "Memory bank shards (RocksDB)");
  memstore->require_subcommand(1);

  auto serve_flags = std::make_shared<ServeFlags>();
  CLI::App* serve =
      memstore->add_subcommand("serve", "Serve one memstore shard until SIGINT/SIGTERM");
  serve->add_option("--data-dir", serve_flags->data_dir, "RocksDB directory of this shard")
      ->required();
  serve->add_option("--listen", serve_flags->listen, "host:port to bind (port 0: any)")->required();
  serve->add_option("--address-file", serve_flags->address_file,
                    "Write the bound host:port to this file once serving");
  serve->add_option("--tenant", serve_flags->tenants,
                    "Serve another job too, as JOB=TOKEN (repeatable)");
  AddJobFlags(serve, &serve_flags->job);
  runner.Bind(serve, [serve_flags]() { return Serve(*serve_flags); });

  auto bench_flags = std::make_shared<BenchFlags>();
  CLI::App* bench = memstore->add_subcommand(
      "bench", "Bounded load against a running shard, with Echo and SQLite FTS5 baselines");
  bench->add_option("--target", bench_flags->target, "host:port of the shard")->required();
  bench->add_option("--clients", bench_flags->clients, "Concurrent clients per phase")
      ->capture_default_str();
  bench->add_option("--requests", bench_flags->requests, "Requests per client per phase")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  bench->add_option("--ops-per-apply", bench_flags->ops_per_apply, "ADD ops per Apply")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  bench
      ->add_option("--search-memories", bench_flags->search_memories,
                   "Memories in the searched bank")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  bench->add_option("--fork-sizes", bench_flags->fork_sizes, "Bank sizes to fork")
      ->capture_default_str();
  bench->add_option("--forks", bench_flags->forks, "Forks per size")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  bench
      ->add_option("--bank-prefix", bench_flags->bank_prefix,
                   "Prefix of the banks the run creates and drops")
      ->capture_default_str();
  AddJobFlags(bench, &bench_flags->job);
  runner.Bind(bench, [bench_flags]() { return Bench(*bench_flags); });
}

const CommandRegistration kRegistration(30, RegisterMemstoreCommands);

}  // namespace
}  // namespace memr1::cli
