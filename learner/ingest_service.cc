#include "learner/ingest_service.h"

#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "learner/trajectory_io.h"

namespace memr1::learner {
namespace {

constexpr char kRejectedMetric[] = "memr1_learner_ingest_rejected_total";

void CountRejected(const std::string& label) {
  MetricsRegistry::Default()
      .GetCounter(kRejectedMetric, "trajectory batches refused by the learner, by reason",
                  {{"reason", label}})
      ->Increment();
}

std::string Describe(const UnitAttempt& key) {
  return absl::StrCat(key.unit_id, "#", key.attempt);
}

int64_t BatchBytes(const v1::TrajectoryBatch& batch) {
  int64_t bytes = 0;
  for (const v1::Trajectory& trajectory : batch.trajectories()) {
    bytes += static_cast<int64_t>(trajectory.ByteSizeLong());
  }
  return bytes;
}

}  // namespace

absl::Status IngestOptions::Validate() const {
  if (max_trajectories < 1) {
    return absl::InvalidArgumentError("ingest: max_trajectories must be >= 1");
  }
  if (max_bytes < 1) return absl::InvalidArgumentError("ingest: max_bytes must be >= 1");
  if (vocab_size < 0) return absl::InvalidArgumentError("ingest: vocab_size must be >= 0");
  if (wait_slice <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ingest: wait_slice must be positive");
  }
  return absl::OkStatus();
}

IngestBuffer::IngestBuffer(IngestOptions options) : options_(std::move(options)) {}

IngestBuffer::Admission IngestBuffer::CheckBatch(const v1::TrajectoryBatch& batch) const {
  Admission refusal;
  auto refuse = [&](const char* label, std::string detail) {
    refusal.label = label;
    refusal.reason = std::move(detail);
    return refusal;
  };
  if (batch.unit_id().empty()) return refuse("malformed", "empty unit_id");
  if (batch.attempt() < 0) return refuse("malformed", absl::StrCat("attempt ", batch.attempt()));
  if (batch.trajectories_size() > options_.max_trajectories) {
    return refuse("oversized", absl::StrCat(batch.trajectories_size(),
                                            " trajectories, the buffer holds at most ",
                                            options_.max_trajectories));
  }
  if (options_.unit_rule) {
    const absl::Status status = options_.unit_rule(batch.unit_id(), batch.step());
    if (!status.ok()) return refuse("unit", std::string(status.message()));
  }
  for (int i = 0; i < batch.trajectories_size(); ++i) {
    const v1::Trajectory& trajectory = batch.trajectories(i);
    const absl::Status valid = ValidateTrajectory(trajectory, options_.vocab_size, options_.behaviour_logprobs);
    if (!valid.ok()) {
      return refuse("invalid_trajectory", absl::StrCat("trajectory ", i, " (\"", trajectory.id(),
                                                       "\"): ", valid.message()));
    }
    if (options_.version_rule) {
      const absl::Status status =
          options_.version_rule(batch.step(), trajectory.policy_version());
      if (!status.ok()) {
        return refuse("policy_version",
                      absl::StrCat("trajectory ", i, " (\"", trajectory.id(), "\") of version ",
                                   trajectory.policy_version(), " for step ", batch.step(), ": ",
                                   status.message()));
      }
    }
  }
  return refusal;  // empty label: passes
}

IngestBuffer::Admission IngestBuffer::StateCheck(uint64_t stream_id,
                                                 const v1::TrajectoryBatch& batch) const {
  Admission refusal;
  if (taken_.count(batch.unit_id()) > 0) {
    refusal.label = "unit_taken";
    refusal.reason = "the unit's trajectories were already taken for training";
    return refusal;
  }
  const auto it = entries_.find(UnitAttempt{batch.unit_id(), batch.attempt()});
  if (it == entries_.end()) return refusal;
  if (it->second.whole) {
    refusal.label = "duplicate";
    refusal.reason = "the attempt is already whole";
  } else if (it->second.stream_id != stream_id) {
    refusal.label = "concurrent_stream";
    refusal.reason = "the attempt is being streamed on another connection";
  } else if (it->second.refused) {
    refusal.label = "earlier_batch_refused";
    refusal.reason = "an earlier batch of the attempt was refused";
  }
  return refusal;
}

IngestBuffer::Admission IngestBuffer::Refuse(uint64_t stream_id, const v1::TrajectoryBatch& batch,
                                             std::string label, std::string detail) {
  const UnitAttempt key{batch.unit_id(), batch.attempt()};
  Admission refusal;
  refusal.reason = absl::StrCat(label, ": unit ", Describe(key), ", batch ", batch.sequence(),
                                ": ", detail);
  refusal.label = std::move(label);
  // Only this stream's own partial attempt is affected: a whole attempt, or one another stream
  // is sending, is not this sender's to spoil.
  auto it = entries_.find(key);
  const bool own_partial =
      it != entries_.end() && !it->second.whole && it->second.stream_id == stream_id;
  if (batch.last_of_unit()) {
    if (own_partial) EraseEntry(it);
  } else if (own_partial) {
    trajectories_ -= static_cast<int64_t>(it->second.trajectories.size());
    bytes_ -= it->second.bytes;
    it->second.trajectories.clear();
    it->second.bytes = 0;
    it->second.refused = true;
  } else if (it == entries_.end() && !batch.unit_id().empty() && refusal.label != "unit_taken") {
    Entry entry;
    entry.stream_id = stream_id;
    entry.step = batch.step();
    entry.refused = true;
    entries_.emplace(key, std::move(entry));
  }
  UpdateGauges();
  return refusal;
}

IngestBuffer::Admission IngestBuffer::RefuseBatch(uint64_t stream_id,
                                                  const v1::TrajectoryBatch& batch,
                                                  std::string label, std::string detail) {
  absl::MutexLock lock(&mu_);
  return Refuse(stream_id, batch, std::move(label), std::move(detail));
}

absl::StatusOr<IngestBuffer::Admission> IngestBuffer::Admit(
    uint64_t stream_id, v1::TrajectoryBatch batch, const std::function<bool()>& cancelled) {
  Admission check = CheckBatch(batch);
  const int64_t batch_bytes = BatchBytes(batch);
  const int64_t count = batch.trajectories_size();
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::CancelledError("ingest buffer closed");
  if (check.label.empty()) check = StateCheck(stream_id, batch);
  if (check.label.empty() && batch_bytes > options_.max_bytes) {
    check.label = "oversized";
    check.reason = absl::StrCat(batch_bytes, " bytes, the buffer holds at most ",
                                options_.max_bytes);
  }
  if (!check.label.empty()) return Refuse(stream_id, batch, check.label, check.reason);

  // Flow control: wait for room. The stream handler is not reading meanwhile.
  auto has_room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || (trajectories_ + count <= options_.max_trajectories &&
                       bytes_ + batch_bytes <= options_.max_bytes);
  };
  if (!has_room()) {
    ++waiting_;
    const absl::Time start = absl::Now();
    while (!has_room()) {
      mu_.AwaitWithTimeout(absl::Condition(&has_room), options_.wait_slice);
      if (has_room()) break;
      if (cancelled) {
        // The predicate may take other locks; never call it with ours held.
        mu_.Unlock();
        const bool stop = cancelled();
        mu_.Lock();
        if (stop) {
          --waiting_;
          return absl::CancelledError("ingest stream cancelled while waiting for buffer room");
        }
      }
    }
    --waiting_;
    MetricsRegistry::Default()
        .GetCounter("memr1_learner_ingest_wait_seconds_total",
                    "time trajectory batches waited for room in the ingest buffer")
        ->Increment(absl::ToDoubleSeconds(absl::Now() - start));
    if (closed_) return absl::CancelledError("ingest buffer closed");
    // The unit may have been taken or the attempt spoiled while this batch waited.
    check = StateCheck(stream_id, batch);
    if (!check.label.empty()) return Refuse(stream_id, batch, check.label, check.reason);
  }

  const UnitAttempt key{batch.unit_id(), batch.attempt()};
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& entry = it->second;
  if (inserted) {
    entry.stream_id = stream_id;
    entry.step = batch.step();
  }
  for (v1::Trajectory& trajectory : *batch.mutable_trajectories()) {
    entry.trajectories.push_back(std::move(trajectory));
  }
  entry.bytes += batch_bytes;
  entry.whole = batch.last_of_unit();
  trajectories_ += count;
  bytes_ += batch_bytes;
  UpdateGauges();
  MetricsRegistry::Default()
      .GetCounter("memr1_learner_ingest_trajectories_total", "trajectories admitted")
      ->Increment(static_cast<double>(count));
  Admission admitted;
  admitted.accepted = true;
  return admitted;
}

int IngestBuffer::EndStream(uint64_t stream_id) {
  absl::MutexLock lock(&mu_);
  int dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->second.stream_id == stream_id && !it->second.whole) {
      if (!it->second.refused) {
        MEMR1_LOG(WARNING) << "ingest: unit " << Describe(it->first)
                           << " dropped: its stream ended before the unit's last batch";
        CountRejected("truncated_stream");
      }
      EraseEntry(it);
      ++dropped;
    }
    it = next;
  }
  UpdateGauges();
  return dropped;
}

absl::StatusOr<std::vector<v1::Trajectory>> IngestBuffer::Take(
    const std::vector<UnitAttempt>& accepted, absl::Duration timeout) {
  std::set<std::string> units;
  for (const UnitAttempt& key : accepted) {
    if (!units.insert(key.unit_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("ingest: unit ", key.unit_id, " listed twice in Take"));
    }
  }
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closed_) return true;
    for (const UnitAttempt& key : accepted) {
      const auto it = entries_.find(key);
      if (it == entries_.end() || !it->second.whole) return false;
    }
    return true;
  };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (closed_) return absl::CancelledError("ingest buffer closed");
  std::vector<std::string> missing;
  for (const UnitAttempt& key : accepted) {
    const auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.whole) {
      missing.push_back(absl::StrCat(Describe(key), it == entries_.end() ? " (nothing received)"
                                                                         : " (partial)"));
    }
  }
  if (!missing.empty()) {
    const size_t total = missing.size();
    if (total > 8) missing.resize(8);
    return absl::DeadlineExceededError(absl::StrCat(
        "ingest: ", total, " accepted unit attempt(s) not whole after ",
        absl::FormatDuration(timeout), ": ", absl::StrJoin(missing, ", "),
        total > missing.size() ? ", ..." : ""));
  }
  std::vector<v1::Trajectory> out;
  for (const UnitAttempt& key : accepted) {
    auto it = entries_.find(key);
    taken_[key.unit_id] = it->second.step;
    for (v1::Trajectory& trajectory : it->second.trajectories) {
      out.push_back(std::move(trajectory));
    }
  }
  // Remove the taken attempts and every other attempt of their units. entries_ is ordered by
  // (unit, attempt), so a unit's attempts are adjacent.
  for (const std::string& unit : units) {
    auto it = entries_.lower_bound(UnitAttempt{unit, INT32_MIN});
    while (it != entries_.end() && it->first.unit_id == unit) {
      auto next = std::next(it);
      EraseEntry(it);
      it = next;
    }
  }
  UpdateGauges();
  return out;
}

int IngestBuffer::DropStep(int64_t step) {
  absl::MutexLock lock(&mu_);
  int dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->second.step == step) {
      EraseEntry(it);
      ++dropped;
    }
    it = next;
  }
  for (auto it = taken_.begin(); it != taken_.end();) {
    it = it->second == step ? taken_.erase(it) : std::next(it);
  }
  UpdateGauges();
  return dropped;
}

void IngestBuffer::EraseEntry(std::map<UnitAttempt, Entry>::iterator it) {
  trajectories_ -= static_cast<int64_t>(it->second.trajectories.size());
  bytes_ -= it->second.bytes;
  entries_.erase(it);
}

void IngestBuffer::UpdateGauges() const {
  MetricsRegistry& registry = MetricsRegistry::Default();
  registry.GetGauge("memr1_learner_ingest_buffer_trajectories", "trajectories in the buffer")
      ->Set(static_cast<double>(trajectories_));
  registry.GetGauge("memr1_learner_ingest_buffer_bytes", "serialized bytes in the buffer")
      ->Set(static_cast<double>(bytes_));
}

void IngestBuffer::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

int64_t IngestBuffer::trajectories() const {
  absl::MutexLock lock(&mu_);
  return trajectories_;
}

int64_t IngestBuffer::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

bool IngestBuffer::IsWhole(const UnitAttempt& key) const {
  absl::MutexLock lock(&mu_);
  const auto it = entries_.find(key);
  return it != entries_.end() && it->second.whole;
}

int IngestBuffer::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

TrajectoryIngestService::TrajectoryIngestService(IngestBuffer* buffer, std::string job_token)
    : buffer_(buffer), job_token_(std::move(job_token)) {}

grpc::Status TrajectoryIngestService::Stream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::IngestAck, v1::TrajectoryBatch>* stream) {
  const absl::Status auth = CheckJobToken(*context, job_token_);
  if (!auth.ok()) {
    MEMR1_LOG(WARNING) << "ingest: stream from " << context->peer() << " refused: " << auth;
    CountRejected("unauthenticated");
    return ToGrpcStatus(auth);
  }
  uint64_t stream_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "ingest service closed");
    stream_id = next_stream_id_++;
    contexts_.insert(context);
  }
  auto cancelled = [this, context]() {
    if (context->IsCancelled()) return true;
    absl::MutexLock lock(&mu_);
    return closed_;
  };
  int64_t expected_sequence = 1;
  grpc::Status result = grpc::Status::OK;
  v1::TrajectoryBatch batch;
  while (stream->Read(&batch)) {
    v1::IngestAck ack;
    ack.set_sequence(batch.sequence());
    IngestBuffer::Admission admission;
    if (batch.sequence() != expected_sequence) {
      admission = buffer_->RefuseBatch(stream_id, batch, "sequence",
                                       absl::StrCat("expected batch ", expected_sequence));
    } else {
      absl::StatusOr<IngestBuffer::Admission> admitted =
          buffer_->Admit(stream_id, std::move(batch), cancelled);
      if (!admitted.ok()) {
        result = ToGrpcStatus(admitted.status());
        break;
      }
      admission = *std::move(admitted);
    }
    expected_sequence = ack.sequence() + 1;
    if (!admission.accepted) {
      ack.set_reason(admission.reason);
      MEMR1_LOG(WARNING) << "ingest: batch from " << context->peer() << " refused: "
                         << admission.reason;
      CountRejected(admission.label);
    }
    ack.set_accepted(admission.accepted);
    if (!stream->Write(ack)) break;  // the actor went away
    batch.Clear();
  }
  buffer_->EndStream(stream_id);
  {
    absl::MutexLock lock(&mu_);
    contexts_.erase(context);
  }
  if (result.ok() && context->IsCancelled()) result = grpc::Status::CANCELLED;
  return result;
}

void TrajectoryIngestService::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (grpc::ServerContext* context : contexts_) context->TryCancel();
}

}  // namespace memr1::learner
