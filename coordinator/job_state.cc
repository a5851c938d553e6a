#include "coordinator/job_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "actor/episode_schedule.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/job_state_internal.h"

namespace memr1::coordinator {
namespace {

using internal::Terminal;

constexpr absl::Duration kThroughputWindow = absl::Seconds(60);

int64_t UnixMillisOrZero(absl::Time time) {
  return time == absl::InfinitePast() ? 0 : absl::ToUnixMillis(time);
}

}  // namespace

absl::StatusOr<JobOptions> JobOptions::FromConfig(const v1::JobConfig& config) {
  JobOptions options;
  const v1::LearnerConfig& learner = config.learner();
  const int group_size =
      learner.algorithm() == v1::LearnerConfig::PPO ? 1 : config.actor().sampling().group_size();
  if (learner.global_batch_size() % group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learner.global_batch_size (", learner.global_batch_size(),
        ") must be a multiple of actor.sampling.group_size (", group_size,
        "): a work unit is one whole group"));
  }
  options.total_steps = learner.total_steps();
  options.units_per_step = learner.global_batch_size() / group_size;
  options.num_ranks = learner.num_ranks();
  options.async = config.coordinator().mode() == v1::CoordinatorConfig::ASYNC;
  options.max_staleness = config.coordinator().max_staleness();
  options.lease_ttl = absl::Seconds(config.coordinator().lease_seconds());
  options.heartbeat_interval = absl::Seconds(config.coordinator().heartbeat_seconds());
  options.checkpoint_every = learner.checkpoint_every();
  options.job_seed = config.seed();
  options.agent = config.actor().train_agent() == v1::ActorConfig::ANSWER_AGENT
                      ? v1::AGENT_KIND_ANSWER_AGENT
                      : v1::AGENT_KIND_MEMORY_MANAGER;
  MEMR1_RETURN_IF_ERROR(options.Validate());
  return options;
}

absl::Status JobOptions::Validate() const {
  if (total_steps < 1) return absl::InvalidArgumentError("total_steps must be >= 1");
  if (num_ranks < 1) return absl::InvalidArgumentError("num_ranks must be >= 1");
  if (units_per_step < num_ranks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a step has ", units_per_step, " work unit(s) (GRPO groups) for ", num_ranks,
        " learner ranks: every rank needs at least one group (raise learner.global_batch_size)"));
  }
  if (max_staleness < 0) return absl::InvalidArgumentError("max_staleness must be >= 0");
  if (lease_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the lease TTL must be positive");
  }
  if (heartbeat_interval <= absl::ZeroDuration() || heartbeat_interval >= lease_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the heartbeat interval (", absl::FormatDuration(heartbeat_interval),
        ") must be positive and shorter than the lease TTL (", absl::FormatDuration(lease_ttl),
        ")"));
  }
  if (checkpoint_every < 0) return absl::InvalidArgumentError("checkpoint_every must be >= 0");
  return absl::OkStatus();
}

std::string JobOptions::Fingerprint() const {
  return absl::StrCat("units_per_step=", units_per_step, " num_ranks=", num_ranks,
                      " seed=", job_seed, " agent=", v1::AgentKind_Name(agent));
}

JobState::JobState(JobOptions options, std::unique_ptr<EpisodeStream> episodes,
                   std::unique_ptr<StateStore> store)
    : options_(std::move(options)), episodes_(std::move(episodes)), store_(std::move(store)) {}

absl::StatusOr<std::unique_ptr<JobState>> JobState::Open(JobOptions options,
                                                         std::unique_ptr<EpisodeStream> episodes,
                                                         std::unique_ptr<StateStore> store,
                                                         absl::Time now) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  if (episodes == nullptr || store == nullptr) {
    return absl::InvalidArgumentError("JobState needs an episode stream and a state store");
  }
  MEMR1_ASSIGN_OR_RETURN(LoadedState loaded, store->Load());
  std::unique_ptr<JobState> state(
      new JobState(std::move(options), std::move(episodes), std::move(store)));
  MEMR1_RETURN_IF_ERROR(state->Restore(std::move(loaded), now));
  return state;
}

absl::Status JobState::Restore(LoadedState loaded, absl::Time now) {
  StateStore::Batch batch;
  if (loaded.fresh) {
    meta_.fingerprint = options_.Fingerprint();
    batch.Put(meta_);
    return store_->Commit(&batch);
  }
  if (loaded.meta.fingerprint != options_.Fingerprint()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "coordinator state '", store_->dir(), "' belongs to another job (", loaded.meta.fingerprint,
        "; this job: ", options_.Fingerprint(), ")"));
  }
  JobMeta meta = loaded.meta;
  for (size_t i = 0; i < loaded.versions.size(); ++i) {
    if (loaded.versions[i].version != static_cast<int64_t>(i)) {
      return absl::DataLossError(absl::StrCat("coordinator state '", store_->dir(),
                                              "': version ", i, " is missing"));
    }
  }
  int64_t max_step = -1;
  for (const UnitRecord& unit : loaded.units) {
    if (unit.index < 0 || unit.index >= options_.units_per_step || unit.step < 0) {
      return absl::DataLossError(absl::StrCat("coordinator state '", store_->dir(), "': unit ",
                                              unit.step, "-", unit.index, " is out of range"));
    }
    if (unit.step >= options_.total_steps) {
      return absl::FailedPreconditionError(absl::StrCat(
          "coordinator state '", store_->dir(), "' has work of step ", unit.step,
          " but the job has only ", options_.total_steps, " steps (learner.total_steps)"));
    }
    max_step = std::max(max_step, unit.step);
  }
  Materialize(max_step + 1);
  int64_t released = 0;
  for (UnitRecord unit : loaded.units) {
    if (unit.state == UnitState::kLeased) {
      // Its actor is unknown to this process: the next lease is attempt + 1.
      unit.state = UnitState::kPending;
      unit.holder.clear();
      batch.Put(unit);
      ++released;
    }
    steps_[unit.step][unit.index].record = unit;
  }
  versions_ = std::move(loaded.versions);
  meta.units_released += released;
  ++meta.restarts;
  batch.Put(meta);
  MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
  meta_ = meta;
  if (meta_.phase == v1::JOB_PHASE_RUNNING || meta_.phase == v1::JOB_PHASE_CHECKPOINTING) {
    awaiting_reregistration_ = true;
    restarted_at_ = now;
  }
  MEMR1_LOG(INFO) << "coordinator: resumed job state from " << store_->dir() << " (phase "
                  << v1::JobPhase_Name(meta_.phase) << ", version " << newest_version() << ", "
                  << CountUnits(UnitState::kDone) << " unit(s) done, " << released
                  << " lease(s) released at restart)";
  return absl::OkStatus();
}

absl::Status JobState::ResumeFromCheckpoint(int64_t checkpoint_version,
                                            const std::string& checkpoint_dir, absl::Time now) {
  if (meta_.phase == v1::JOB_PHASE_DONE) return absl::OkStatus();
  const int64_t keep = std::max<int64_t>(checkpoint_version, -1);  // versions 0..keep survive
  if (keep > newest_version() + 1 || keep > options_.total_steps) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resume from the checkpoint of step ", keep, ": the coordinator's newest version is ",
        newest_version(), " (a checkpoint of another job?)"));
  }
  for (int64_t s = 0; s < keep; ++s) {
    if (!StepComplete(s)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot resume from the checkpoint of step ", keep, ": step ", s,
          " is not complete in the coordinator's state ", store_->dir()));
    }
  }
  JobMeta meta = meta_;
  if (meta.latest_checkpoint_version != keep) {
    // Older: the newer checkpoint the coordinator saw is gone from disk, the older one rules.
    // Newer: the learners wrote it but were stopped before reporting it; its steps are done
    // (waiting for the recorded step's checkpoint again would wait forever: the learners
    // restore the newer one and never write the older).
    meta.latest_checkpoint_version = keep;
    meta.latest_checkpoint = keep < 0 ? std::string()
                             : !checkpoint_dir.empty() ? checkpoint_dir
                             : keep <= newest_version() ? versions_[keep].checkpoint_dir
                                                        : std::string();
  }
  meta.phase = v1::JOB_PHASE_STARTING;
  meta.error.clear();
  meta.checkpoint_step = -1;
  StateStore::Batch batch;
  for (int64_t v = keep + 1; v <= newest_version(); ++v) batch.DeleteVersion(v);
  std::vector<std::pair<Unit*, UnitRecord>> changed;
  int64_t rolled_back = 0;
  const int64_t first_step = std::max<int64_t>(keep, 0);
  for (int64_t s = first_step; s < static_cast<int64_t>(steps_.size()); ++s) {
    for (Unit& unit : steps_[s]) {
      if (unit.record.state == UnitState::kPending) continue;
      rolled_back += unit.record.state == UnitState::kDone ? 1 : 0;
      UnitRecord record = unit.record;
      record.state = UnitState::kPending;
      record.holder.clear();
      record.accepted_attempt = 0;
      record.trajectories = 0;
      record.reward_sum = 0;
      record.policy_version = -1;
      batch.Put(record);
      changed.emplace_back(&unit, record);
    }
  }
  batch.Put(meta);
  MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
  const int64_t forgotten = newest_version() - keep;
  if (static_cast<int64_t>(versions_.size()) > keep + 1) versions_.resize(keep + 1);
  for (auto& [unit, record] : changed) {
    unit->record = record;
    unit->lease_deadline = absl::InfinitePast();
  }
  meta_ = meta;
  roles_.clear();
  recent_.clear();
  awaiting_reregistration_ = false;
  restarted_at_ = now;
  MEMR1_LOG(INFO) << "coordinator: resuming from "
                  << (keep >= 0 ? absl::StrCat("the checkpoint of version ", keep, " (",
                                               meta_.latest_checkpoint, ")")
                                : std::string("the initial weights (no checkpoint yet)"))
                  << ": " << std::max<int64_t>(forgotten, 0) << " later version(s) forgotten, "
                  << rolled_back << " accepted unit(s) of step " << first_step
                  << " and later rolled back";
  return absl::OkStatus();
}

void JobState::Materialize(int64_t steps) {
  steps = std::min<int64_t>(steps, options_.total_steps);
  while (static_cast<int64_t>(steps_.size()) < steps) {
    const int64_t step = static_cast<int64_t>(steps_.size());
    std::vector<Unit> units(options_.units_per_step);
    for (int i = 0; i < options_.units_per_step; ++i) {
      Unit& unit = units[i];
      unit.record.step = step;
      unit.record.index = i;
      unit.episode = episodes_->Next();
      unit.seed = actor::EpisodeSeed(options_.job_seed, step * options_.units_per_step + i);
    }
    steps_.push_back(std::move(units));
  }
}

int64_t JobState::newest_version() const { return static_cast<int64_t>(versions_.size()) - 1; }

int64_t JobState::CountUnits(UnitState state) const {
  int64_t count = 0;
  for (const std::vector<Unit>& step : steps_) {
    for (const Unit& unit : step) count += unit.record.state == state ? 1 : 0;
  }
  if (state == UnitState::kPending) {
    count += (options_.total_steps - static_cast<int64_t>(steps_.size())) * options_.units_per_step;
  }
  return count;
}

JobState::Unit* JobState::FindUnit(const std::string& unit_id) {
  const size_t dash = unit_id.find('-');
  int64_t step = -1;
  int index = -1;
  if (dash == std::string::npos || !absl::SimpleAtoi(unit_id.substr(0, dash), &step) ||
      !absl::SimpleAtoi(unit_id.substr(dash + 1), &index)) {
    return nullptr;
  }
  if (step < 0 || step >= static_cast<int64_t>(steps_.size()) || index < 0 ||
      index >= options_.units_per_step) {
    return nullptr;
  }
  return &steps_[step][index];
}

bool JobState::StepComplete(int64_t step) const {
  if (step < 0 || step >= static_cast<int64_t>(steps_.size())) return false;
  for (const Unit& unit : steps_[step]) {
    if (unit.record.state != UnitState::kDone) return false;
  }
  return true;
}

bool JobState::IsCheckpointStep(int64_t step) const {
  if (step == options_.total_steps - 1) return true;
  if (requested_checkpoints_.count(step) > 0) return true;
  return options_.checkpoint_every > 0 && (step + 1) % options_.checkpoint_every == 0;
}

absl::StatusOr<JobState::Role*> JobState::FindLease(const std::string& lease_id, bool* replaced) {
  *replaced = false;
  const size_t colon = lease_id.rfind(':');
  if (colon != std::string::npos) {
    const auto it = roles_.find(lease_id.substr(0, colon));
    if (it != roles_.end()) {
      if (it->second.lease_id == lease_id) return &it->second;
      *replaced = true;
      return absl::NotFoundError(absl::StrCat("lease '", lease_id,
                                              "' was replaced by a newer registration of ",
                                              it->first));
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "unknown lease '", lease_id.substr(0, 200),
      "' (the coordinator restarted or never saw it): register again"));
}

void JobState::Fail(JobMeta* meta, const std::string& reason) const {
  if (Terminal(meta->phase)) return;
  meta->phase = v1::JOB_PHASE_FAILED;
  meta->error = reason;
  MEMR1_LOG(ERROR) << "coordinator: job FAILED: " << reason;
}

void JobState::MaybeStartRunning(JobMeta* meta) const {
  if (meta->phase != v1::JOB_PHASE_STARTING) return;
  std::vector<bool> ranks(options_.num_ranks, false);
  bool actor = false;
  for (const auto& [id, role] : roles_) {
    if (role.kind == v1::ROLE_KIND_LEARNER) ranks[role.rank] = true;
    if (role.kind == v1::ROLE_KIND_ACTOR) actor = true;
  }
  if (actor && std::all_of(ranks.begin(), ranks.end(), [](bool b) { return b; })) {
    meta->phase = v1::JOB_PHASE_RUNNING;
  }
}

std::vector<std::string> JobState::LearnerAddresses() const {
  std::vector<std::string> addresses(options_.num_ranks);
  int known = 0;
  for (const auto& [id, role] : roles_) {
    if (role.kind == v1::ROLE_KIND_LEARNER) {
      addresses[role.rank] = role.address;
      ++known;
    }
  }
  if (known < options_.num_ranks) return {};
  return addresses;
}

int64_t JobState::LeasableStepLimit(int64_t actor_version) const {
  const int64_t newest = newest_version();
  int64_t limit = newest;
  if (options_.async) {
    limit = newest + options_.max_staleness;
    limit = std::min(limit, std::max<int64_t>(actor_version, 0) + options_.max_staleness);
  }
  if (meta_.phase == v1::JOB_PHASE_CHECKPOINTING) limit = std::min(limit, meta_.checkpoint_step);
  return std::min(limit, options_.total_steps - 1);
}

v1::WorkUnit JobState::ToWire(const Unit& unit) const {
  v1::WorkUnit wire;
  wire.set_id(absl::StrCat(unit.record.step, "-", unit.record.index));
  wire.set_attempt(unit.record.attempt);
  wire.set_step(unit.record.step);
  wire.set_agent(options_.agent);
  wire.set_conversation_id(unit.episode.conversation_id);
  wire.set_turn(unit.episode.turn);
  wire.set_question_id(unit.episode.question_id);
  wire.set_policy_version(options_.async
                              ? std::max<int64_t>(0, unit.record.step - options_.max_staleness)
                              : unit.record.step);
  wire.set_seed(unit.seed);
  wire.set_learner_rank(unit.record.index % options_.num_ranks);
  wire.set_lease_deadline_unix_ms(UnixMillisOrZero(unit.lease_deadline));
  return wire;
}

absl::Status JobState::Tick(absl::Time now) {
  JobMeta meta = meta_;
  StateStore::Batch batch;
  std::vector<std::pair<Unit*, UnitRecord>> changed;
  for (auto& [id, role] : roles_) {
    if (role.expires >= now) continue;
    if (role.kind == v1::ROLE_KIND_LEARNER && !Terminal(meta.phase)) {
      Fail(&meta, absl::StrCat("learner rank ", role.rank, " (", id, ") lost: no heartbeat for ",
                               absl::FormatDuration(now - role.last_heartbeat), " (lease TTL ",
                               absl::FormatDuration(options_.lease_ttl), ")"));
    }
  }
  for (std::vector<Unit>& step : steps_) {
    for (Unit& unit : step) {
      if (unit.record.state != UnitState::kLeased) continue;
      const auto holder = roles_.find(unit.record.holder);
      const bool holder_alive = holder != roles_.end() && holder->second.expires >= now;
      if (holder_alive && unit.lease_deadline >= now) continue;
      UnitRecord record = unit.record;
      record.state = UnitState::kPending;
      record.holder.clear();
      ++meta.units_released;
      batch.Put(record);
      changed.emplace_back(&unit, record);
    }
  }
  if (awaiting_reregistration_ && now > restarted_at_ + options_.lease_ttl) {
    std::vector<bool> ranks(options_.num_ranks, false);
    for (const auto& [id, role] : roles_) {
      if (role.kind == v1::ROLE_KIND_LEARNER) ranks[role.rank] = true;
    }
    for (int r = 0; r < options_.num_ranks; ++r) {
      if (!ranks[r] && !Terminal(meta.phase)) {
        Fail(&meta, absl::StrCat("learner rank ", r, " did not register again within ",
                                 absl::FormatDuration(options_.lease_ttl),
                                 " of the coordinator's restart"));
      }
    }
  }
  const bool meta_changed = meta.phase != meta_.phase || meta.units_released != meta_.units_released;
  if (!meta_changed && changed.empty()) {
    if (awaiting_reregistration_ && now > restarted_at_ + options_.lease_ttl) {
      awaiting_reregistration_ = false;
    }
    return absl::OkStatus();
  }
  batch.Put(meta);
  MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
  if (awaiting_reregistration_ && now > restarted_at_ + options_.lease_ttl) {
    awaiting_reregistration_ = false;
  }
  for (auto& [unit, record] : changed) unit->record = record;
  meta_ = meta;
  return absl::OkStatus();
}

absl::Status JobState::Shutdown(const std::string& reason, absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  if (Terminal(meta_.phase)) return absl::OkStatus();
  JobMeta meta = meta_;
  if (reason.empty() && newest_version() >= options_.total_steps) {
    meta.phase = v1::JOB_PHASE_DONE;
  } else {
    Fail(&meta, reason.empty() ? absl::StrCat("shut down at version ", newest_version(), " of ",
                                              options_.total_steps)
                               : reason);
  }
  StateStore::Batch batch;
  batch.Put(meta);
  MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
  meta_ = meta;
  return absl::OkStatus();
}

v1::StatusResponse JobState::Status(absl::Time now) {
  const absl::Status ticked = Tick(now);
  if (!ticked.ok()) MEMR1_LOG(WARNING) << "coordinator: " << ticked;
  v1::StatusResponse response;
  response.set_phase(meta_.phase);
  response.set_error(meta_.error);
  response.set_step(std::max<int64_t>(newest_version(), 0));
  response.set_total_steps(options_.total_steps);
  response.set_policy_version(newest_version());
  if (newest_version() >= 0) {
    response.set_policy_hash(versions_.back().hash);
    for (const auto& [name, value] : versions_.back().metrics) {
      (*response.mutable_metrics())[name] = value;
    }
  }
  for (const auto& [id, role] : roles_) {
    v1::RoleStatus* status = response.add_roles();
    status->set_role(role.kind);
    status->set_role_id(id);
    status->set_address(role.address);
    status->set_healthy(role.expires >= now);
    status->set_last_heartbeat_unix_ms(UnixMillisOrZero(role.last_heartbeat));
    status->set_policy_version(role.policy_version);
    for (const auto& [name, value] : role.gauges) (*status->mutable_gauges())[name] = value;
  }
  response.set_units_pending(CountUnits(UnitState::kPending));
  response.set_units_leased(CountUnits(UnitState::kLeased));
  response.set_units_done(CountUnits(UnitState::kDone));
  response.set_units_released(meta_.units_released);
  response.set_late_completions_refused(meta_.late_completions_refused);
  while (!recent_.empty() && recent_.front().first < now - kThroughputWindow) recent_.pop_front();
  if (!recent_.empty()) {
    int64_t trajectories = 0;
    for (const auto& [time, count] : recent_) trajectories += count;
    const double seconds = std::max(1.0, absl::ToDoubleSeconds(now - recent_.front().first));
    response.set_trajectories_per_second(static_cast<double>(trajectories) / seconds);
  }
  response.set_latest_checkpoint(meta_.latest_checkpoint);
  response.set_latest_checkpoint_version(meta_.latest_checkpoint_version);
  return response;
}

}  // namespace memr1::coordinator
