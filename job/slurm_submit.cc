#include "job/slurm_submit.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/child_process.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "coordinator/server.h"
#include "job/slurm_layout.h"

namespace memr1::job {
namespace {

namespace fs = std::filesystem;

constexpr char kDirectivesMarker[] = "# @memr1-directives";
constexpr char kSettingsBegin[] = "# @memr1-settings-begin";
constexpr char kSettingsEnd[] = "# @memr1-settings-end";
constexpr char kSignalDirective[] = "#SBATCH --signal=";

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// Directive values go on one line after "#SBATCH ": no newlines.
absl::Status CheckDirectiveValue(const std::string& what, const std::string& value) {
  if (value.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("slurm submit: ", what, " '",
                                                   absl::CEscape(value), "' spans lines"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SlurmSubmitOptions::Validate() const {
  if (config_path.empty()) return absl::InvalidArgumentError("slurm submit: no --config");
  if (memr1_binary.empty() || !fs::path(memr1_binary).is_absolute()) {
    return absl::InvalidArgumentError(
        absl::StrCat("slurm submit: the memr1 binary '", memr1_binary, "' is not an absolute path"));
  }
  if (nodes < 0 || learner_nodes < 0 || gpus_per_node < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slurm submit: --nodes ", nodes, ", --learner-nodes ", learner_nodes,
        ", --gpus-per-node ", gpus_per_node, ": counts must be >= 0"));
  }
  if (mpi != "auto" && mpi != "pmix" && mpi != "mpirun") {
    return absl::InvalidArgumentError(
        absl::StrCat("slurm submit: --mpi '", mpi, "' is not auto, pmix or mpirun"));
  }
  if (signal_seconds < 1 || signal_seconds > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("slurm submit: --signal-seconds ",
                                                   signal_seconds, " is not in [1, 65535]"));
  }
  if (stop_grace_seconds < 1) {
    return absl::InvalidArgumentError(absl::StrCat("slurm submit: --stop-grace-seconds ",
                                                   stop_grace_seconds, " is not positive"));
  }
  if (max_failure_requeues < 0) {
    return absl::InvalidArgumentError(absl::StrCat("slurm submit: --max-failure-requeues ",
                                                   max_failure_requeues, " is negative"));
  }
  for (const auto& [what, value] : std::vector<std::pair<std::string, std::string>>{
           {"--time", time_limit}, {"--partition", partition}, {"--account", account}}) {
    MEMR1_RETURN_IF_ERROR(CheckDirectiveValue(what, value));
  }
  for (const std::string& arg : sbatch_args) {
    MEMR1_RETURN_IF_ERROR(CheckDirectiveValue("--sbatch-arg", arg));
    if (!absl::StartsWith(arg, "-")) {
      return absl::InvalidArgumentError(
          absl::StrCat("slurm submit: --sbatch-arg '", arg, "' is not an sbatch option (-...)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SlurmScript> RenderSlurmScript(const SlurmSubmitOptions& options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig config,
                         LoadJobConfig(options.config_path, options.overrides));
  std::error_code ec;
  const fs::path config_path = fs::absolute(options.config_path, ec);
  const fs::path output = fs::absolute(config.output_dir(), ec);
  MEMR1_RETURN_IF_ERROR(coordinator::CheckNewJob(config, options.resume));

  // The shape of the allocation.
  const int ranks = config.learner().num_ranks();
  const int actors = config.actor().num_actors();
  const int gpus = options.gpus_per_node >= 0
                       ? options.gpus_per_node
                       : (absl::StartsWith(config.model().device(), "cuda") ? 8 : 0);
  int learner_nodes = options.learner_nodes;
  int nodes = options.nodes;
  int tasks_per_node = 0;
  if (gpus > 0) {
    if (learner_nodes == 0) learner_nodes = CeilDiv(ranks, gpus);
    if (nodes == 0) nodes = learner_nodes + CeilDiv(actors, gpus);
    tasks_per_node = gpus;
  } else {
    if (nodes == 0) nodes = 1;
    if (learner_nodes == 0) learner_nodes = std::min(nodes, ranks);
    tasks_per_node = CeilDiv(ranks, learner_nodes);
  }
  if (learner_nodes > nodes) {
    return absl::InvalidArgumentError(absl::StrCat("slurm submit: ", learner_nodes,
                                                   " learner node(s) but --nodes ", nodes));
  }
  if (gpus > 0 && CeilDiv(ranks, learner_nodes) > gpus) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slurm submit: ", ranks, " learner ranks on ", learner_nodes, " node(s) of ", gpus,
        " GPU(s): more ranks per node than GPUs"));
  }
  if (options.heterogeneous && nodes - learner_nodes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slurm submit: a heterogeneous job needs nodes beyond the ", learner_nodes,
        " learner node(s) for the coordinator, shards and actors (--nodes ", nodes, ")"));
  }

  // sbatch splits a directive line into words: the output path must be one plain word, and
  // the job name is reduced to one.
  const std::string out_dir = output.string();
  if (out_dir.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789._/+-,=@~:") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slurm submit: output_dir '", out_dir,
        "' has characters an #SBATCH line cannot carry (spaces, quotes, ...): choose another"));
  }
  std::string job_name = config.name();
  for (char& c : job_name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      c = '_';
    }
  }

  // The directives.
  std::vector<std::string> lines;
  auto directive = [&lines](const std::string& text) { lines.push_back("#SBATCH " + text); };
  directive(absl::StrCat("--job-name=memr1-", job_name));
  directive(absl::StrCat("--output=", (output / "slurm" / "slurm-%j.out").string()));
  if (!options.time_limit.empty()) directive("--time=" + options.time_limit);
  if (!options.partition.empty()) directive("--partition=" + options.partition);
  if (!options.account.empty()) directive("--account=" + options.account);
  for (const std::string& arg : options.sbatch_args) directive(arg);
  auto resources = [&](int count, int per_node) {
    directive(absl::StrCat("--nodes=", count));
    directive(absl::StrCat("--ntasks-per-node=", per_node));
    if (gpus > 0) {
      directive(absl::StrCat("--gpus-per-node=", gpus));
      directive("--exclusive");
    }
  };
  if (options.heterogeneous) {
    lines.push_back("# component 0: the learner ranks");
    resources(learner_nodes, gpus > 0 ? gpus : tasks_per_node);
    lines.push_back("#SBATCH hetjob");
    lines.push_back("# component 1: the coordinator, the memstore shards, the actors");
    // The time limit is not carried over from component 0 by every Slurm version.
    if (!options.time_limit.empty()) directive("--time=" + options.time_limit);
    resources(nodes - learner_nodes, gpus > 0 ? gpus : 1);
  } else {
    resources(nodes, tasks_per_node);
  }

  // The settings.
  std::vector<std::string> overrides;
  for (const std::string& assignment : options.overrides) {
    overrides.push_back("--set");
    overrides.push_back(ShellQuote(assignment));
  }
  std::vector<std::string> settings = {
      kSettingsBegin,
      "# Written by `memr1 slurm submit` for this job.",
      absl::StrCat("MEMR1=", ShellQuote(options.memr1_binary)),
      absl::StrCat("JOB_CONFIG=", ShellQuote(config_path.string())),
      absl::StrCat("JOB_OVERRIDES=(", absl::StrJoin(overrides, " "), ")"),
      absl::StrCat("GPUS_PER_NODE=", gpus),
      absl::StrCat("LEARNER_NODES=", options.heterogeneous ? 0 : learner_nodes),
      absl::StrCat("MPI_LAUNCHER=", options.mpi),
      absl::StrCat("MAX_FAILURE_REQUEUES=", options.max_failure_requeues),
      absl::StrCat("RESUME=", options.resume ? 1 : 0),
      absl::StrCat("STOP_GRACE_SECONDS=", options.stop_grace_seconds),
      // USR1 comes signal_seconds before the end: the checkpoint and the stop must fit.
      absl::StrCat("CHECKPOINT_WAIT_SECONDS=",
                   std::max(0, options.signal_seconds - options.stop_grace_seconds - 10)),
      "ADDRESS_TIMEOUT_SECONDS=600",
      kSettingsEnd};

  // The template with both parts filled in.
  std::vector<std::string> in = absl::StrSplit(options.template_text, '\n');
  std::vector<std::string> out;
  bool directives_done = false, in_settings = false, settings_done = false;
  for (const std::string& line : in) {
    const absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(line);
    if (in_settings) {
      if (trimmed == kSettingsEnd) {
        in_settings = false;
        settings_done = true;
        out.insert(out.end(), settings.begin(), settings.end());
      }
      continue;
    }
    if (trimmed == kDirectivesMarker && !directives_done) {
      directives_done = true;
      out.push_back(line);
      out.insert(out.end(), lines.begin(), lines.end());
    } else if (trimmed == kSettingsBegin && !settings_done) {
      in_settings = true;
    } else if (absl::StartsWith(trimmed, kSignalDirective)) {
      out.push_back(absl::StrCat(kSignalDirective, "B:USR1@", options.signal_seconds));
    } else {
      out.push_back(line);
    }
  }
  if (!directives_done || !settings_done) {
    return absl::InvalidArgumentError(absl::StrCat(
        "slurm submit: the batch script template lacks the line '",
        directives_done ? kSettingsBegin : kDirectivesMarker, "'",
        directives_done ? absl::StrCat(" (or '", kSettingsEnd, "')") : std::string()));
  }
  SlurmScript script;
  script.text = absl::StrJoin(out, "\n");
  script.output_dir = output.string();
  script.path = (output / "slurm" / "memr1.sbatch").string();
  return script;
}

absl::StatusOr<std::string> SubmitSlurmScript(const SlurmScript& script, const std::string& sbatch,
                                              absl::Duration timeout) {
  std::error_code ec;
  fs::create_directories(fs::path(script.path).parent_path(), ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create ", fs::path(script.path).parent_path().string(), ": ", ec.message()));
  }
  MEMR1_RETURN_IF_ERROR(WriteFileAtomically(script.path, script.text));
  ::chmod(script.path.c_str(), 0700);

  std::ostringstream output;
  LogSink sink(&output);
  ChildOptions child;
  child.name = "sbatch";
  child.argv = {sbatch, "--parsable", script.path};
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<ChildProcess> process, ChildProcess::Start(child, &sink));
  const std::optional<int> code = process->Wait(timeout);
  if (!code.has_value()) {
    process->Stop(absl::Seconds(5));
    return absl::DeadlineExceededError(absl::StrCat(
        "sbatch did not answer within ", absl::FormatDuration(timeout), "; its output:\n",
        output.str()));
  }
  process.reset();  // joins the reader: all output is in `output`
  // Lines come prefixed "[sbatch] "; --parsable prints "<id>" or "<id>;<cluster>".
  std::string id;
  std::vector<std::string> text;
  for (absl::string_view line : absl::StrSplit(output.str(), '\n', absl::SkipEmpty())) {
    absl::ConsumePrefix(&line, "[sbatch] ");
    text.emplace_back(line);
    const absl::string_view first = line.substr(0, line.find(';'));
    uint64_t number = 0;
    if (absl::SimpleAtoi(first, &number)) id = std::string(first);
  }
  if (*code != 0 || id.empty()) {
    return absl::InternalError(absl::StrCat("sbatch ", script.path, " exited with code ", *code,
                                            *code == 127 ? " (is Slurm's sbatch in PATH?)" : "",
                                            ":\n  ", absl::StrJoin(text, "\n  ")));
  }
  return id;
}

absl::StatusOr<std::string> FindSlurmTemplate(const std::string& exe,
                                              const std::string& explicit_path) {
  std::vector<fs::path> candidates;
  if (!explicit_path.empty()) {
    candidates.push_back(explicit_path);
  } else {
    const fs::path dir = fs::path(exe).parent_path();
    candidates.push_back(dir / ".." / "share" / "memr1" / "slurm" / "memr1.sbatch");
    candidates.push_back(dir / ".." / ".." / "deploy" / "slurm" / "memr1.sbatch");
  }
  std::vector<std::string> tried;
  for (const fs::path& candidate : candidates) {
    const fs::path normal = candidate.lexically_normal();
    absl::StatusOr<std::string> text = ReadFileToString(normal.string());
    if (text.ok()) return text;
    tried.push_back(normal.string());
  }
  return absl::NotFoundError(absl::StrCat("the Slurm batch script template is not at ",
                                          absl::StrJoin(tried, " nor "),
                                          " (pass --template deploy/slurm/memr1.sbatch)"));
}

}  // namespace memr1::job
