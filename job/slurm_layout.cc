#include "job/slurm_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "coordinator/job_state.h"
#include "coordinator/resume.h"
#include "coordinator/server.h"
#include "coordinator/state_store.h"

namespace memr1::job {
namespace {

namespace fs = std::filesystem;

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

bool UsesCuda(const v1::JobConfig& config) {
  return absl::StartsWith(config.model().device(), "cuda");
}

// The host of "host:port" / "[v6]:port" ("" when it has no port).
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "";
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

// 128 random bits as hex: the job token when the config names none.
std::string RandomToken() {
  std::random_device device;
  std::string token;
  for (int i = 0; i < 4; ++i) token += absl::StrFormat("%08x", device());
  return token;
}

// Writes `text` to `path` through a temporary file created with mode 0600 (the file holds the
// job token: it is never readable by others, not even for a moment), then renames it.
absl::Status WritePrivateFile(const fs::path& path, const std::string& text) {
  const std::string temp = path.string() + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create '", temp, "': ", std::strerror(errno)));
  }
  ::fchmod(fd, 0600);  // an older file of that name may have had another mode
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string error = std::strerror(errno);
      ::close(fd);
      ::unlink(temp.c_str());
      return absl::InternalError(absl::StrCat("cannot write '", temp, "': ", error));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(temp.c_str());
    return absl::InternalError(absl::StrCat("cannot sync '", temp, "'"));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string error = std::strerror(errno);
    ::unlink(temp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot rename '", temp, "' to '", path.string(), "': ", error));
  }
  return absl::OkStatus();
}

std::string NodeNames(const std::vector<SlurmNode>& nodes) {
  std::vector<std::string> names;
  for (const SlurmNode& node : nodes) names.push_back(node.name);
  return absl::StrJoin(names, ",");
}

std::string BashArray(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& value : values) quoted.push_back(ShellQuote(value));
  return absl::StrCat("(", absl::StrJoin(quoted, " "), ")");
}

}  // namespace

absl::Status SlurmLayoutOptions::Validate() const {
  if (learner_group.empty() != service_group.empty()) {
    return absl::InvalidArgumentError(
        "slurm layout: a heterogeneous job needs the nodes of both components (learners and "
        "services)");
  }
  const bool heterogeneous = !learner_group.empty();
  if (!heterogeneous && nodes.empty()) {
    return absl::InvalidArgumentError("slurm layout: the allocation has no nodes");
  }
  for (const auto* list : {&nodes, &learner_group, &service_group}) {
    for (const SlurmNode& node : *list) {
      if (node.name.empty() || node.address.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("slurm layout: node '", node.name,
                                                       "' needs a name and an address (NodeAddr)"));
      }
    }
  }
  if (gpus_per_node < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("slurm layout: gpus per node is ", gpus_per_node, ", not >= 0"));
  }
  if (learner_nodes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("slurm layout: learner nodes is ", learner_nodes, ", not >= 0"));
  }
  return absl::OkStatus();
}

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<SlurmLayout> PlanSlurmLayout(const v1::JobConfig& config,
                                            const SlurmLayoutOptions& options,
                                            const std::vector<std::string>& previous_shards) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  SlurmLayout layout;
  const int ranks = config.learner().num_ranks();
  const int gpus = options.gpus_per_node;
  const bool cuda = gpus > 0 && UsesCuda(config);
  layout.learner_ranks = ranks;
  layout.learner_gpus_per_task = cuda ? 1 : 0;
  layout.actor_gpus_per_task = cuda ? 1 : 0;

  std::vector<SlurmNode> services;
  if (!options.learner_group.empty()) {
    layout.learner_nodes = options.learner_group;
    services = options.service_group;
  } else {
    const int total = static_cast<int>(options.nodes.size());
    int count = options.learner_nodes;
    if (count == 0) count = gpus > 0 ? CeilDiv(ranks, gpus) : std::min(total, ranks);
    if (count > total) {
      return absl::InvalidArgumentError(absl::StrCat(
          "slurm layout: ", ranks, " learner rank(s)",
          gpus > 0 ? absl::StrCat(" at ", gpus, " GPU(s) per node") : std::string(), " need ",
          count, " node(s) but the allocation has ", total));
    }
    layout.learner_nodes.assign(options.nodes.begin(), options.nodes.begin() + count);
    if (gpus > 0 && count < total) {
      services.assign(options.nodes.begin() + count, options.nodes.end());
    } else {
      services = options.nodes;
    }
  }
  if (static_cast<int>(layout.learner_nodes.size()) > ranks) {
    return absl::InvalidArgumentError(
        absl::StrCat("slurm layout: ", layout.learner_nodes.size(), " learner node(s) for ",
                     ranks, " learner rank(s): at most one node per rank"));
  }
  layout.learner_tasks_per_node =
      CeilDiv(ranks, static_cast<int>(layout.learner_nodes.size()));

  layout.coordinator = services.front();
  for (int j = 0; j < config.actor().num_actors(); ++j) {
    layout.actor_nodes.push_back(services[j % services.size()]);
  }

  // GPUs each node has to give: its learner ranks and its actors, one each.
  if (cuda) {
    std::map<std::string, int> demand;
    const int learner_node_count = static_cast<int>(layout.learner_nodes.size());
    for (int i = 0; i < learner_node_count; ++i) {
      // srun places ranks block-wise: tasks_per_node on each node, the rest on the last.
      demand[layout.learner_nodes[i].name] +=
          std::min(layout.learner_tasks_per_node, ranks - i * layout.learner_tasks_per_node);
    }
    for (const SlurmNode& node : layout.actor_nodes) ++demand[node.name];
    for (const auto& [name, need] : demand) {
      if (need > gpus) {
        return absl::InvalidArgumentError(absl::StrCat(
            "slurm layout: node ", name, " would need ", need, " GPUs (one per learner rank and ",
            "actor placed there) but has ", gpus, "; ask for more nodes (--nodes / "
            "--learner-nodes) or fewer actors (actor.num_actors)"));
      }
    }
  }

  // Shards: on their previous addresses when every one of them can bind it again.
  const int shards = config.memstore().num_shards();
  std::map<std::string, SlurmNode> by_address;
  for (const auto* list : {&options.nodes, &options.learner_group, &options.service_group}) {
    for (const SlurmNode& node : *list) by_address.emplace(node.address, node);
  }
  bool keep = static_cast<int>(previous_shards.size()) == shards && shards > 0;
  for (int i = 0; keep && i < shards; ++i) {
    keep = by_address.count(HostOf(previous_shards[i])) > 0;
  }
  layout.shards_keep_addresses = keep;
  for (int i = 0; i < shards; ++i) {
    if (keep) {
      layout.shard_nodes.push_back(by_address.at(HostOf(previous_shards[i])));
      layout.shard_listen.push_back(previous_shards[i]);
    } else {
      const SlurmNode& node = services[i % services.size()];
      layout.shard_nodes.push_back(node);
      layout.shard_listen.push_back(JoinHostPort(node.address, 0));
    }
  }
  return layout;
}

absl::StatusOr<SlurmPrepared> PrepareSlurmJob(const SlurmPrepareOptions& options) {
  MEMR1_ASSIGN_OR_RETURN(v1::JobConfig config,
                         LoadJobConfig(options.config_path, options.overrides));
  SlurmPrepared prepared;
  std::error_code ec;
  const fs::path output = fs::absolute(config.output_dir(), ec);
  config.set_output_dir(output.string());
  prepared.output_dir = output.string();
  const fs::path job_yaml = output / "job.yaml";
  prepared.job_yaml = job_yaml.string();
  MEMR1_RETURN_IF_ERROR(coordinator::CheckNewJob(config, options.resume));
  const fs::path state = coordinator::JobStateDir(config);

  // The previous run's job.yaml: its token and shard list (a resumed job keeps both).
  std::vector<std::string> previous_shards;
  if (options.resume && fs::exists(job_yaml)) {
    absl::StatusOr<v1::JobConfig> previous = LoadJobConfig(job_yaml.string(), {});
    if (previous.ok()) {
      previous_shards.assign(previous->memstore().shards().begin(),
                             previous->memstore().shards().end());
      if (config.job_token().empty()) config.set_job_token(previous->job_token());
    } else {
      prepared.notes.push_back(absl::StrCat("resume: the previous ", job_yaml.string(),
                                            " does not load (", previous.status().message(),
                                            "); starting the shards on new addresses"));
    }
  }
  if (config.job_token().empty()) config.set_job_token(RandomToken());
  // The layout first: a layout that does not fit changes nothing on disk.
  MEMR1_ASSIGN_OR_RETURN(prepared.layout, PlanSlurmLayout(config, options.layout, previous_shards));

  for (const char* sub : {"logs", "metrics", "checkpoints", "addresses", "slurm"}) {
    fs::create_directories(output / sub, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", (output / sub).string(), ": ", ec.message()));
    }
  }
  fs::create_directories(state, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", state.string(), ": ", ec.message()));
  }
  // Stale address files of an earlier run must not be mistaken for this run's.
  for (const auto& entry : fs::directory_iterator(output / "addresses", ec)) {
    fs::remove(entry.path(), ec);
  }

  if (options.resume) {
    // The coordinator's state rolled back to the learners' checkpoint, as `memr1 launch
    // --resume` does.
    const fs::path checkpoints = output / "checkpoints";
    MEMR1_ASSIGN_OR_RETURN(coordinator::ServerOptions server,
                           coordinator::ServerOptionsFromConfig(config));
    MEMR1_ASSIGN_OR_RETURN(
        const coordinator::ResumeOutcome resumed,
        coordinator::RollBackToCheckpoint(std::move(server), checkpoints.string()));
    prepared.notes.push_back(resumed.message);
    prepared.done = resumed.already_done;
  }
  if (!previous_shards.empty() && !prepared.layout.shards_keep_addresses) {
    // The shards cannot come back on the addresses their data is keyed to.
    const std::string suffix = absl::StrCat(".replaced-", absl::ToUnixSeconds(absl::Now()));
    for (int i = 0; i < config.memstore().num_shards(); ++i) {
      const fs::path data = output / absl::StrCat("memstore-", i);
      if (!fs::exists(data)) continue;
      fs::rename(data, data.string() + suffix, ec);
      if (ec) {
        return absl::InternalError(absl::StrCat("cannot move ", data.string(), " aside: ",
                                                ec.message()));
      }
    }
    prepared.notes.push_back(absl::StrCat(
        "resume: the previous shard list [", absl::StrJoin(previous_shards, ", "),
        "] cannot be served from this allocation; its data was moved to memstore-<i>", suffix,
        " and the banks are built again"));
  }
  config.mutable_memstore()->clear_shards();
  MEMR1_RETURN_IF_ERROR(WritePrivateFile(job_yaml, MessageToYaml(config)));
  return prepared;
}

std::string FormatSlurmAssignments(const SlurmPrepared& prepared) {
  const SlurmLayout& layout = prepared.layout;
  std::vector<std::string> shard_nodes, actor_nodes, addrs;
  for (const SlurmNode& node : layout.shard_nodes) shard_nodes.push_back(node.name);
  for (const SlurmNode& node : layout.actor_nodes) actor_nodes.push_back(node.name);
  std::map<std::string, std::string> seen;
  for (const auto* list : {&layout.learner_nodes, &layout.shard_nodes, &layout.actor_nodes}) {
    for (const SlurmNode& node : *list) seen.emplace(node.name, node.address);
  }
  seen.emplace(layout.coordinator.name, layout.coordinator.address);
  for (const auto& [name, address] : seen) addrs.push_back(absl::StrCat(name, "=", address));
  std::string out;
  auto line = [&out](const std::string& name, const std::string& value) {
    absl::StrAppend(&out, name, "=", value, "\n");
  };
  line("MEMR1_OUTPUT_DIR", ShellQuote(prepared.output_dir));
  line("MEMR1_JOB_YAML", ShellQuote(prepared.job_yaml));
  line("MEMR1_DONE", prepared.done ? "1" : "0");
  line("MEMR1_COORDINATOR_NODE", ShellQuote(layout.coordinator.name));
  line("MEMR1_COORDINATOR_LISTEN", ShellQuote(JoinHostPort(layout.coordinator.address, 0)));
  line("MEMR1_SHARDS", absl::StrCat(layout.shard_nodes.size()));
  line("MEMR1_SHARD_NODE", BashArray(shard_nodes));
  line("MEMR1_SHARD_LISTEN", BashArray(layout.shard_listen));
  line("MEMR1_LEARNER_RANKS", absl::StrCat(layout.learner_ranks));
  line("MEMR1_LEARNER_NODES", ShellQuote(NodeNames(layout.learner_nodes)));
  line("MEMR1_LEARNER_NODE_COUNT", absl::StrCat(layout.learner_nodes.size()));
  line("MEMR1_LEARNER_TASKS_PER_NODE", absl::StrCat(layout.learner_tasks_per_node));
  line("MEMR1_LEARNER_GPUS_PER_TASK", absl::StrCat(layout.learner_gpus_per_task));
  line("MEMR1_ACTORS", absl::StrCat(layout.actor_nodes.size()));
  line("MEMR1_ACTOR_NODE", BashArray(actor_nodes));
  line("MEMR1_ACTOR_GPUS_PER_TASK", absl::StrCat(layout.actor_gpus_per_task));
  line("MEMR1_NODE_ADDRS", ShellQuote(absl::StrJoin(addrs, ",")));
  line("MEMR1_NOTES", BashArray(prepared.notes));
  return out;
}

absl::Status RecordShardAddresses(const std::string& job_yaml,
                                  const std::vector<std::string>& shards) {
  if (shards.empty()) return absl::InvalidArgumentError("slurm shards: the shard list is empty");
  for (const std::string& shard : shards) {
    if (HostOf(shard).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("slurm shards: '", shard, "' is not host:port"));
    }
  }
  MEMR1_ASSIGN_OR_RETURN(v1::JobConfig config, LoadJobConfig(job_yaml, {}));
  if (static_cast<int>(shards.size()) != config.memstore().num_shards()) {
    return absl::InvalidArgumentError(absl::StrCat("slurm shards: ", shards.size(),
                                                   " address(es) for memstore.num_shards ",
                                                   config.memstore().num_shards(), " in ",
                                                   job_yaml));
  }
  config.mutable_memstore()->clear_shards();
  for (const std::string& shard : shards) config.mutable_memstore()->add_shards(shard);
  // The list must load back as a valid config before it replaces the old one.
  MEMR1_RETURN_IF_ERROR(
      LoadJobConfigFromText(MessageToYaml(config), job_yaml, {}).status());
  return WritePrivateFile(job_yaml, MessageToYaml(config));
}

absl::StatusOr<std::vector<SlurmNode>> ParseSlurmNodes(const std::string& text) {
  std::vector<SlurmNode> nodes;
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    const std::vector<std::string> parts = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("slurm nodes: '", entry, "' is not name=address"));
    }
    nodes.push_back({parts[0], parts[1]});
  }
  return nodes;
}

std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += "'";
  return quoted;
}

}  // namespace memr1::job
