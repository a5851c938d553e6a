#include "actor/trajectory_sender.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace memr1::actor {

absl::Status TrajectorySenderOptions::Validate() const {
  if (address.empty()) return absl::InvalidArgumentError("trajectory sender: empty address");
  if (max_in_flight < 1) {
    return absl::InvalidArgumentError("trajectory sender: max_in_flight must be >= 1");
  }
  if (max_batch_bytes < 1) {
    return absl::InvalidArgumentError("trajectory sender: max_batch_bytes must be >= 1");
  }
  if (send_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("trajectory sender: send_timeout must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrajectorySender>> TrajectorySender::Create(
    TrajectorySenderOptions options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  MEMR1_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                         MakeChannel(options.address, options.channel));
  return Create(std::move(options), v1::TrajectoryIngest::NewStub(channel));
}

absl::StatusOr<std::unique_ptr<TrajectorySender>> TrajectorySender::Create(
    TrajectorySenderOptions options, std::unique_ptr<v1::TrajectoryIngest::StubInterface> stub) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  if (stub == nullptr) return absl::InvalidArgumentError("trajectory sender: null stub");
  return std::unique_ptr<TrajectorySender>(
      new TrajectorySender(std::move(options), std::move(stub)));
}

TrajectorySender::TrajectorySender(TrajectorySenderOptions options,
                                   std::unique_ptr<v1::TrajectoryIngest::StubInterface> stub)
    : options_(std::move(options)), stub_(std::move(stub)) {}

TrajectorySender::~TrajectorySender() { Close(); }

void TrajectorySender::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_ && current_ == nullptr) return;
    closed_ = true;
    // Unblocks the reader and any write stuck in flow control; waiters see closed_.
    if (current_ != nullptr) current_->context.TryCancel();
  }
  absl::MutexLock write_lock(&write_mu_);
  if (stream_ != nullptr) FinishStream(stream_.get());
  stream_.reset();
  absl::MutexLock lock(&mu_);
  current_ = nullptr;
}

int TrajectorySender::in_flight() const {
  absl::MutexLock lock(&mu_);
  return current_ == nullptr ? 0 : static_cast<int>(current_->pending.size());
}

void TrajectorySender::ReadAcks(Stream* stream) {
  v1::IngestAck ack;
  while (stream->rw->Read(&ack)) {
    absl::MutexLock lock(&mu_);
    if (stream->pending.empty() || stream->pending.front() != ack.sequence()) {
      stream->error = absl::InternalError(absl::StrCat(
          "learner ", options_.address, " acknowledged batch ", ack.sequence(), ", expected ",
          stream->pending.empty() ? std::string("none")
                                  : absl::StrCat(stream->pending.front())));
      stream->context.TryCancel();
      break;
    }
    stream->pending.pop_front();
    stream->acks[ack.sequence()] = std::move(ack);
  }
  absl::MutexLock lock(&mu_);
  stream->broken = true;
}

absl::StatusOr<std::shared_ptr<TrajectorySender::Stream>> TrajectorySender::CurrentStream() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::CancelledError("trajectory sender closed");
    if (stream_ != nullptr && !stream_->broken) return stream_;
  }
  if (stream_ != nullptr) {
    // Broken: collect it before opening the next one (its partial units are dropped by the
    // learner; their SendUnit calls report Unavailable).
    FinishStream(stream_.get());
  }
  auto stream = std::make_shared<Stream>();
  AttachJobToken(&stream->context, options_.job_token);
  stream->rw = stub_->Stream(&stream->context);
  if (stream->rw == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot open a trajectory stream to ", options_.address));
  }
  Stream* raw = stream.get();
  stream->reader = std::thread([this, raw]() { ReadAcks(raw); });
  absl::MutexLock lock(&mu_);
  stream_ = stream;
  current_ = raw;
  if (closed_) raw->context.TryCancel();  // Close() ran meanwhile
  return stream;
}

void TrajectorySender::FinishStream(Stream* stream) {
  if (stream->finished) return;
  {
    absl::MutexLock lock(&mu_);
    if (!stream->broken) stream->context.TryCancel();
  }
  if (stream->reader.joinable()) stream->reader.join();
  const grpc::Status status = stream->rw->Finish();
  absl::MutexLock lock(&mu_);
  stream->final_status = stream->error.ok() ? FromGrpcStatus(status) : stream->error;
  stream->finished = true;
}

absl::Status TrajectorySender::BrokenError(Stream* stream) {
  absl::Status final_status;
  {
    absl::MutexLock write_lock(&write_mu_);
    FinishStream(stream);
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::CancelledError("trajectory sender closed");
    final_status = stream->final_status;
  }
  switch (final_status.code()) {
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kInternal:
      return Annotate(final_status, absl::StrCat("trajectory stream to ", options_.address));
    default:
      return absl::UnavailableError(absl::StrCat(
          "trajectory stream to ", options_.address, " broke (",
          final_status.ok() ? std::string("the learner ended it") : final_status.ToString(),
          "); the learner dropped the unit's partial attempt"));
  }
}

absl::StatusOr<int64_t> TrajectorySender::WriteBatch(const std::shared_ptr<Stream>& stream,
                                                     v1::TrajectoryBatch* batch,
                                                     absl::Time deadline) {
  Stream* raw = stream.get();
  {
    absl::MutexLock lock(&mu_);
    auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed_ || raw->broken ||
             static_cast<int>(raw->pending.size()) < options_.max_in_flight;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&room), deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "learner ", options_.address, " acknowledged nothing for ",
          absl::FormatDuration(options_.send_timeout), " (window of ", options_.max_in_flight,
          " batches full)"));
    }
    if (closed_) return absl::CancelledError("trajectory sender closed");
    if (raw->broken) return absl::UnavailableError("stream broke");
    batch->set_sequence(raw->next_sequence++);
    raw->pending.push_back(batch->sequence());
  }
  // Blocks while gRPC flow control holds the stream (the learner stopped reading).
  if (!raw->rw->Write(*batch)) {
    absl::MutexLock lock(&mu_);
    raw->broken = true;
    return absl::UnavailableError("stream broke");
  }
  return batch->sequence();
}

absl::StatusOr<std::vector<v1::IngestAck>> TrajectorySender::AwaitAcks(
    const std::shared_ptr<Stream>& stream, const std::vector<int64_t>& sequences,
    absl::Time deadline) {
  Stream* raw = stream.get();
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closed_ || raw->broken) return true;
    for (int64_t sequence : sequences) {
      if (raw->acks.count(sequence) == 0) return false;
    }
    return true;
  };
  const bool in_time = mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  std::vector<v1::IngestAck> acks;
  for (int64_t sequence : sequences) {
    auto it = raw->acks.find(sequence);
    if (it == raw->acks.end()) continue;
    acks.push_back(std::move(it->second));
    raw->acks.erase(it);
  }
  if (acks.size() == sequences.size()) return acks;
  if (closed_) return absl::CancelledError("trajectory sender closed");
  if (raw->broken) return absl::UnavailableError("stream broke");
  (void)in_time;
  return absl::DeadlineExceededError(absl::StrCat(
      "learner ", options_.address, " did not acknowledge the unit within ",
      absl::FormatDuration(options_.send_timeout)));
}

absl::StatusOr<UnitReceipt> TrajectorySender::SendUnit(
    const std::string& unit_id, int32_t attempt, int64_t step,
    absl::Span<const v1::Trajectory> trajectories, int64_t max_batch_bytes) {
  if (unit_id.empty()) return absl::InvalidArgumentError("SendUnit: empty unit id");
  if (max_batch_bytes <= 0) max_batch_bytes = options_.max_batch_bytes;
  const absl::Time deadline = absl::Now() + options_.send_timeout;

  // Batch boundaries by serialized size: [begin, end) ranges of `trajectories`.
  std::vector<std::pair<size_t, size_t>> ranges;
  UnitReceipt receipt;
  {
    size_t begin = 0;
    int64_t bytes = 0;
    for (size_t i = 0; i < trajectories.size(); ++i) {
      const int64_t size = static_cast<int64_t>(trajectories[i].ByteSizeLong());
      if (i > begin && bytes + size > max_batch_bytes) {
        ranges.emplace_back(begin, i);
        begin = i;
        bytes = 0;
      }
      bytes += size;
      receipt.bytes += size;
    }
    ranges.emplace_back(begin, trajectories.size());  // the last (possibly empty) batch
  }
  receipt.trajectories = static_cast<int64_t>(trajectories.size());

  auto make_batch = [&](size_t begin, size_t end, bool last) {
    v1::TrajectoryBatch batch;
    batch.set_actor_id(options_.actor_id);
    batch.set_unit_id(unit_id);
    batch.set_attempt(attempt);
    batch.set_step(step);
    batch.set_last_of_unit(last);
    for (size_t i = begin; i < end; ++i) *batch.add_trajectories() = trajectories[i];
    return batch;
  };

  std::shared_ptr<Stream> stream;
  std::vector<int64_t> sequences;
  absl::Status write_error;
  bool refused_early = false;
  for (size_t b = 0; b < ranges.size(); ++b) {
    v1::TrajectoryBatch batch =
        make_batch(ranges[b].first, ranges[b].second, b + 1 == ranges.size());
    absl::MutexLock write_lock(&write_mu_);
    if (stream == nullptr) {
      absl::StatusOr<std::shared_ptr<Stream>> opened = CurrentStream();
      if (!opened.ok()) return opened.status();
      stream = *std::move(opened);
    }
    {
      // Stop early once the learner refused a batch of this unit: the rest would be refused.
      absl::MutexLock lock(&mu_);
      for (int64_t sequence : sequences) {
        auto it = stream->acks.find(sequence);
        if (it != stream->acks.end() && !it->second.accepted()) refused_early = true;
      }
    }
    if (refused_early) {
      // Close the attempt on the learner with an empty last batch (refused as well, it ends
      // the refused attempt there so that it can be sent again).
      v1::TrajectoryBatch closing = make_batch(0, 0, /*last=*/true);
      absl::StatusOr<int64_t> sequence = WriteBatch(stream, &closing, deadline);
      if (!sequence.ok()) write_error = sequence.status();
      else sequences.push_back(*sequence);
      break;
    }
    absl::StatusOr<int64_t> sequence = WriteBatch(stream, &batch, deadline);
    if (!sequence.ok()) {
      write_error = sequence.status();
      break;
    }
    sequences.push_back(*sequence);
    ++receipt.batches;
  }

  absl::StatusOr<std::vector<v1::IngestAck>> acks =
      write_error.ok() ? AwaitAcks(stream, sequences, deadline) : write_error;
  if (!acks.ok()) {
    if (stream == nullptr) return acks.status();
    if (acks.status().code() == absl::StatusCode::kUnavailable) return BrokenError(stream.get());
    if (acks.status().code() == absl::StatusCode::kDeadlineExceeded) {
      // The learner's state of this attempt is unknown: cancel the stream, so that it drops
      // the partial attempt, and start afresh next time.
      absl::MutexLock lock(&mu_);
      stream->context.TryCancel();
    }
    return Annotate(acks.status(), absl::StrCat("unit ", unit_id, "#", attempt));
  }
  for (const v1::IngestAck& ack : *acks) {
    if (ack.accepted()) continue;
    if (absl::StartsWith(ack.reason(), "duplicate:") && ack.sequence() == sequences.front()) {
      receipt.already_whole = true;
      receipt.batches = 0;
      return receipt;
    }
    return absl::FailedPreconditionError(
        absl::StrCat("learner ", options_.address, " refused unit ", unit_id, "#", attempt,
                     ": ", ack.reason()));
  }
  return receipt;
}

}  // namespace memr1::actor
