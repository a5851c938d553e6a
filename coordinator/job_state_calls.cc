// JobState's calls: what each CoordinatorService RPC does to the job state (register,
// heartbeat, lease, complete, step units, publish). The state itself, its restore and rollback,
// leases' expiry and the status view are in job_state.cc.

#include <algorithm>
#include <functional>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/job_state.h"
#include "coordinator/job_state_internal.h"

namespace memr1::coordinator {
namespace {

using internal::Terminal;

constexpr int kMaxUnitsPerLease = 1024;

std::string NewNonce() {
  static std::mt19937_64 generator{std::random_device{}()};
  return absl::StrFormat("%016x", generator());
}

// Phase rules that follow from the units and versions: CHECKPOINTING while a complete
// checkpoint step has no checkpoint yet, DONE once the last version is in and checkpointed.
// `becoming_done` counts as done (a completion not yet applied); `newest` is the newest version
// after the change.
void RecomputePhase(JobMeta* meta, int64_t newest, int64_t total_steps,
                    const std::function<bool(int64_t)>& step_complete,
                    const std::function<bool(int64_t)>& checkpoint_step) {
  if (meta->phase != v1::JOB_PHASE_RUNNING && meta->phase != v1::JOB_PHASE_CHECKPOINTING) return;
  int64_t awaited = -1;
  for (int64_t s = std::max<int64_t>(meta->latest_checkpoint_version, 0); s < total_steps; ++s) {
    // A checkpoint covers every step before it: only the first incomplete step can hold one.
    if (!step_complete(s)) break;
    if (checkpoint_step(s)) {
      awaited = s;
      break;
    }
  }
  if (awaited >= 0) {
    meta->phase = v1::JOB_PHASE_CHECKPOINTING;
    meta->checkpoint_step = awaited;
    return;
  }
  meta->phase = v1::JOB_PHASE_RUNNING;
  meta->checkpoint_step = -1;
  if (newest >= total_steps) meta->phase = v1::JOB_PHASE_DONE;
}

}  // namespace

absl::StatusOr<v1::RegisterResponse> JobState::Register(const v1::RegisterRequest& request,
                                                        absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  const std::string& id = request.role_id();
  if (id.empty() || id.size() > 256 || id.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        "role_id must be 1-256 characters without ':' (e.g. \"actor-0\")");
  }
  if (request.role() != v1::ROLE_KIND_ACTOR && request.role() != v1::ROLE_KIND_LEARNER &&
      request.role() != v1::ROLE_KIND_MEMSTORE) {
    return absl::InvalidArgumentError(
        absl::StrCat("role ", id, ": unknown role kind ", static_cast<int>(request.role())));
  }
  if (request.role() == v1::ROLE_KIND_LEARNER) {
    if (request.rank() < 0 || request.rank() >= options_.num_ranks) {
      return absl::InvalidArgumentError(absl::StrCat("learner ", id, ": rank ", request.rank(),
                                                     " is outside 0..", options_.num_ranks - 1));
    }
    for (const auto& [other_id, other] : roles_) {
      if (other_id != id && other.kind == v1::ROLE_KIND_LEARNER && other.rank == request.rank()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "learner ", id, ": rank ", request.rank(), " is already held by ", other_id));
      }
    }
  }
  const auto existing = roles_.find(id);
  if (existing != roles_.end() && existing->second.kind != request.role()) {
    return absl::FailedPreconditionError(absl::StrCat("role ", id, " registered before as ",
                                                      v1::RoleKind_Name(existing->second.kind)));
  }
  JobMeta meta = meta_;
  StateStore::Batch batch;
  std::vector<std::pair<Unit*, UnitRecord>> changed;
  if (existing != roles_.end()) {
    // A restarted process: whatever the old one held is lost.
    for (std::vector<Unit>& step : steps_) {
      for (Unit& unit : step) {
        if (unit.record.state != UnitState::kLeased || unit.record.holder != id) continue;
        UnitRecord record = unit.record;
        record.state = UnitState::kPending;
        record.holder.clear();
        ++meta.units_released;
        batch.Put(record);
        changed.emplace_back(&unit, record);
      }
    }
  }
  Role role;
  role.kind = request.role();
  role.role_id = id;
  role.lease_id = absl::StrCat(id, ":", NewNonce());
  role.address = request.address();
  role.rank = request.role() == v1::ROLE_KIND_LEARNER ? request.rank() : -1;
  role.expires = now + options_.lease_ttl;
  role.last_heartbeat = now;
  const std::optional<Role> previous =
      existing != roles_.end() ? std::optional<Role>(existing->second) : std::nullopt;
  roles_[id] = role;
  MaybeStartRunning(&meta);
  if (meta.phase != meta_.phase || !changed.empty()) {
    batch.Put(meta);
    const absl::Status committed = store_->Commit(&batch);
    if (!committed.ok()) {
      if (previous.has_value()) {
        roles_[id] = *previous;
      } else {
        roles_.erase(id);
      }
      return committed;
    }
  }
  for (auto& [unit, record] : changed) unit->record = record;
  meta_ = meta;
  MEMR1_LOG(INFO) << "coordinator: " << v1::RoleKind_Name(role.kind) << " " << id
                  << (role.rank >= 0 ? absl::StrCat(" (rank ", role.rank, ")") : "")
                  << (previous.has_value() ? " registered again" : " registered")
                  << (request.address().empty() ? "" : absl::StrCat(" at ", request.address()));

  v1::RegisterResponse response;
  response.set_lease_id(role.lease_id);
  response.set_lease_ttl_ms(absl::ToInt64Milliseconds(options_.lease_ttl));
  response.set_heartbeat_interval_ms(absl::ToInt64Milliseconds(options_.heartbeat_interval));
  response.set_phase(meta_.phase);
  response.set_policy_version(newest_version());
  if (newest_version() >= 0) response.set_policy_hash(versions_.back().hash);
  for (const std::string& address : LearnerAddresses()) response.add_learner_addresses(address);
  response.set_step(std::max<int64_t>(newest_version(), 0));
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> JobState::Heartbeat(const v1::HeartbeatRequest& request,
                                                          absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  v1::HeartbeatResponse response;
  response.set_phase(meta_.phase);
  response.set_policy_version(newest_version());
  if (newest_version() >= 0) response.set_policy_hash(versions_.back().hash);
  response.set_step(std::max<int64_t>(newest_version(), 0));
  bool replaced = false;
  absl::StatusOr<Role*> found = FindLease(request.lease_id(), &replaced);
  if (!found.ok()) {
    if (!replaced) return found.status();
    response.set_stop(true);
    return response;
  }
  Role& role = **found;
  if (role.kind == v1::ROLE_KIND_ACTOR && !request.policy_hash().empty() &&
      request.policy_version() >= 0 && request.policy_version() <= newest_version() &&
      versions_[request.policy_version()].hash != request.policy_hash()) {
    JobMeta meta = meta_;
    ++meta.hash_mismatches;
    StateStore::Batch batch;
    batch.Put(meta);
    MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
    meta_ = meta;
    MEMR1_LOG(WARNING) << "coordinator: " << role.role_id << " samples with version "
                       << request.policy_version() << " hash " << request.policy_hash()
                       << " but that version was published with hash "
                       << versions_[request.policy_version()].hash;
  }
  role.expires = now + options_.lease_ttl;
  role.last_heartbeat = now;
  role.policy_version = request.policy_version();
  role.gauges.clear();
  for (const auto& [name, value] : request.gauges()) role.gauges[name] = value;
  if (role.kind == v1::ROLE_KIND_ACTOR) {
    for (std::vector<Unit>& step : steps_) {
      for (Unit& unit : step) {
        if (unit.record.state == UnitState::kLeased && unit.record.holder == role.role_id) {
          unit.lease_deadline = now + options_.lease_ttl;
        }
      }
    }
  }
  response.set_stop(Terminal(meta_.phase));
  for (const std::string& address : LearnerAddresses()) response.add_learner_addresses(address);
  return response;
}

absl::StatusOr<v1::LeaseWorkResponse> JobState::LeaseWork(const v1::LeaseWorkRequest& request,
                                                          absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  v1::LeaseWorkResponse response;
  const int64_t retry_ms = std::clamp<int64_t>(
      absl::ToInt64Milliseconds(options_.heartbeat_interval) / 5, 50, 1000);
  bool replaced = false;
  absl::StatusOr<Role*> found = FindLease(request.lease_id(), &replaced);
  if (!found.ok()) {
    if (!replaced) return found.status();
    response.set_done(true);  // a newer process of this role took over: this one exits
    return response;
  }
  Role& role = **found;
  if (role.kind != v1::ROLE_KIND_ACTOR) {
    return absl::PermissionDeniedError(
        absl::StrCat(role.role_id, " is a ", v1::RoleKind_Name(role.kind), ", not an actor"));
  }
  if (Terminal(meta_.phase)) {
    response.set_done(true);
    return response;
  }
  const int64_t newest = newest_version();
  if (meta_.phase == v1::JOB_PHASE_STARTING || newest < 0) {
    response.set_retry_after_ms(retry_ms);
    return response;
  }
  const int max_units = std::clamp(request.max_units(), 1, kMaxUnitsPerLease);
  const int64_t limit = LeasableStepLimit(request.policy_version());
  Materialize(limit + 1);
  StateStore::Batch batch;
  std::vector<std::pair<Unit*, UnitRecord>> changed;
  for (int64_t s = std::max<int64_t>(newest, 0);
       s <= limit && static_cast<int>(changed.size()) < max_units; ++s) {
    for (Unit& unit : steps_[s]) {
      if (static_cast<int>(changed.size()) >= max_units) break;
      if (unit.record.state != UnitState::kPending) continue;
      UnitRecord record = unit.record;
      record.state = UnitState::kLeased;
      record.attempt += 1;
      record.holder = role.role_id;
      batch.Put(record);
      changed.emplace_back(&unit, record);
    }
  }
  if (changed.empty()) {
    response.set_retry_after_ms(retry_ms);
    return response;
  }
  MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
  for (auto& [unit, record] : changed) {
    unit->record = record;
    unit->lease_deadline = now + options_.lease_ttl;
    *response.add_units() = ToWire(*unit);
  }
  return response;
}

absl::StatusOr<v1::CompleteWorkResponse> JobState::CompleteWork(
    const v1::CompleteWorkRequest& request, absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  if (request.trajectories() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("unit ", request.unit_id(), ": trajectories ",
                                                   request.trajectories(), " < 0"));
  }
  v1::CompleteWorkResponse response;
  JobMeta meta = meta_;
  auto refuse = [&](const std::string& reason, bool late) -> absl::StatusOr<v1::CompleteWorkResponse> {
    if (late) {
      ++meta.late_completions_refused;
      StateStore::Batch batch;
      batch.Put(meta);
      MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
      meta_ = meta;
    }
    response.set_accepted(false);
    response.set_reason(reason);
    return response;
  };
  bool replaced = false;
  absl::StatusOr<Role*> found = FindLease(request.lease_id(), &replaced);
  if (!found.ok()) {
    if (!replaced) return found.status();
    return refuse(std::string(found.status().message()), /*late=*/true);
  }
  const Role& role = **found;
  Unit* unit = FindUnit(request.unit_id());
  if (unit == nullptr) {
    return refuse(absl::StrCat("unknown unit '", request.unit_id().substr(0, 64), "'"), false);
  }
  const UnitRecord& current = unit->record;
  const std::string name = absl::StrCat("unit ", request.unit_id(), " attempt ", request.attempt());
  if (current.state == UnitState::kDone) {
    if (current.accepted_attempt == request.attempt() && current.holder == role.role_id) {
      response.set_accepted(true);  // a retry of an accepted completion
      return response;
    }
    return refuse(absl::StrCat(name, ": the unit was already completed by attempt ",
                               current.accepted_attempt),
                  true);
  }
  if (request.attempt() != current.attempt) {
    return refuse(absl::StrCat(name, ": attempt is no longer current (the unit was leased again "
                               "as attempt ", current.attempt, ")"),
                  true);
  }
  if (current.state != UnitState::kLeased || current.holder != role.role_id) {
    return refuse(absl::StrCat(name, ": the lease of ", role.role_id, " expired"), true);
  }
  const int64_t step = current.step;
  const bool version_ok = options_.async
                              ? request.policy_version() >= step - options_.max_staleness &&
                                    request.policy_version() <= newest_version()
                              : request.policy_version() == step;
  UnitRecord record = current;
  StateStore::Batch batch;
  if (!version_ok) {
    // The trajectories cannot count: give the unit to the next actor right away.
    record.state = UnitState::kPending;
    record.holder.clear();
    ++meta.units_released;
    ++meta.late_completions_refused;
    batch.Put(record);
    batch.Put(meta);
    MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
    unit->record = record;
    meta_ = meta;
    response.set_accepted(false);
    response.set_reason(absl::StrCat(
        name, ": sampled with policy version ", request.policy_version(), " but step ", step,
        options_.async ? absl::StrCat(" accepts versions ", std::max<int64_t>(0, step - options_.max_staleness),
                                      "..", newest_version())
                       : absl::StrCat(" samples with version ", step)));
    return response;
  }
  record.state = UnitState::kDone;
  record.accepted_attempt = request.attempt();
  record.trajectories = request.trajectories();
  record.reward_sum = request.reward_sum();
  record.policy_version = request.policy_version();
  meta.trajectories_accepted += request.trajectories();
  RecomputePhase(
      &meta, newest_version(), options_.total_steps,
      [&](int64_t s) {
        if (s < 0 || s >= static_cast<int64_t>(steps_.size())) return false;
        for (const Unit& u : steps_[s]) {
          if (&u != unit && u.record.state != UnitState::kDone) return false;
        }
        return true;
      },
      [&](int64_t s) { return IsCheckpointStep(s); });
  batch.Put(record);
  batch.Put(meta);
  MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
  unit->record = record;
  if (meta.phase != meta_.phase) {
    MEMR1_LOG(INFO) << "coordinator: step " << meta.checkpoint_step
                    << " complete; waiting for its checkpoint";
  }
  meta_ = meta;
  recent_.emplace_back(now, request.trajectories());
  response.set_accepted(true);
  return response;
}

absl::StatusOr<v1::StepUnitsResponse> JobState::StepUnits(const v1::StepUnitsRequest& request,
                                                          absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  v1::StepUnitsResponse response;
  bool replaced = false;
  absl::StatusOr<Role*> found = FindLease(request.lease_id(), &replaced);
  if (!found.ok()) {
    if (!replaced) return found.status();
    response.set_stop(true);
    return response;
  }
  if (request.step() < 0 || request.step() >= options_.total_steps) {
    return absl::InvalidArgumentError(absl::StrCat("step ", request.step(), " is outside 0..",
                                                   options_.total_steps - 1));
  }
  if (request.rank() < 0 || request.rank() >= options_.num_ranks) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", request.rank(), " is outside 0..", options_.num_ranks - 1));
  }
  response.set_checkpoint(IsCheckpointStep(request.step()));
  response.set_stop(Terminal(meta_.phase));
  if (!StepComplete(request.step())) return response;
  response.set_complete(true);
  handed_through_ = std::max(handed_through_, request.step());
  for (const Unit& unit : steps_[request.step()]) {
    if (unit.record.index % options_.num_ranks != request.rank()) continue;
    v1::AcceptedUnit* accepted = response.add_units();
    accepted->set_unit_id(absl::StrCat(unit.record.step, "-", unit.record.index));
    accepted->set_attempt(unit.record.accepted_attempt);
    accepted->set_trajectories(unit.record.trajectories);
  }
  return response;
}

absl::StatusOr<int64_t> JobState::RequestCheckpoint(const std::string& reason, absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  if (Terminal(meta_.phase)) {
    return absl::FailedPreconditionError(
        absl::StrCat("no checkpoint to take: the job is ", v1::JobPhase_Name(meta_.phase)));
  }
  // The step being trained may have been handed to some ranks already; its flag is fixed then.
  const int64_t step = std::min<int64_t>(
      std::max<int64_t>({newest_version(), handed_through_ + 1, 0}), options_.total_steps - 1);
  requested_checkpoints_.insert(step);
  MEMR1_LOG(INFO) << "coordinator: checkpoint requested after step " << step << " (version "
                  << step + 1 << ")" << (reason.empty() ? "" : ": ") << reason;
  return step;
}

absl::Status JobState::PublishVersion(const v1::PublishVersionRequest& request, absl::Time now) {
  MEMR1_RETURN_IF_ERROR(Tick(now));
  bool replaced = false;
  MEMR1_ASSIGN_OR_RETURN(Role * role, FindLease(request.lease_id(), &replaced));
  if (role->kind != v1::ROLE_KIND_LEARNER || role->rank != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(role->role_id, ": only learner rank 0 publishes versions"));
  }
  const int64_t v = request.version();
  if (v < 0 || v > options_.total_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("version ", v, " is outside 0..", options_.total_steps));
  }
  if (request.content_hash().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("version ", v, ": empty content hash"));
  }
  if (meta_.phase == v1::JOB_PHASE_FAILED) {
    return absl::FailedPreconditionError(absl::StrCat("the job failed: ", meta_.error));
  }
  const int64_t newest = newest_version();
  VersionRecord record;
  if (v <= newest) {
    record = versions_[v];
    if (record.hash != request.content_hash()) {
      return absl::FailedPreconditionError(
          absl::StrCat("version ", v, " was published with hash ", record.hash, ", not ",
                       request.content_hash()));
    }
    if (request.checkpoint_dir().empty() || !record.checkpoint_dir.empty()) {
      return absl::OkStatus();  // a retry
    }
  } else {
    if (v != newest + 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("version ", v, " published after version ", newest, " (expected ",
                       newest + 1, ")"));
    }
    if (v >= 1 && !StepComplete(v - 1)) {
      int64_t done = 0;
      if (v - 1 < static_cast<int64_t>(steps_.size())) {
        for (const Unit& unit : steps_[v - 1]) done += unit.record.state == UnitState::kDone;
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "version ", v, " closes step ", v - 1, ", which has ", done, " of ",
          options_.units_per_step, " unit(s) accepted"));
    }
    record.version = v;
    record.hash = request.content_hash();
    for (const auto& [name, value] : request.metrics()) record.metrics[name] = value;
    record.published_unix_ms = absl::ToUnixMillis(now);
  }
  JobMeta meta = meta_;
  if (!request.checkpoint_dir().empty()) {
    record.checkpoint_dir = request.checkpoint_dir();
    if (v > meta.latest_checkpoint_version) {
      meta.latest_checkpoint = request.checkpoint_dir();
      meta.latest_checkpoint_version = v;
    }
  }
  const int64_t new_newest = std::max(newest, v);
  RecomputePhase(
      &meta, new_newest, options_.total_steps, [&](int64_t s) { return StepComplete(s); },
      [&](int64_t s) { return IsCheckpointStep(s); });
  StateStore::Batch batch;
  batch.Put(record);
  batch.Put(meta);
  MEMR1_RETURN_IF_ERROR(store_->Commit(&batch));
  if (v > newest) {
    versions_.push_back(record);
  } else {
    versions_[v] = record;
  }
  if (meta.phase != meta_.phase) {
    MEMR1_LOG(INFO) << "coordinator: phase " << v1::JobPhase_Name(meta.phase) << " at version "
                    << new_newest;
  }
  meta_ = meta;
  return absl::OkStatus();
}

}  // namespace memr1::coordinator
