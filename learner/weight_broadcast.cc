#include "learner/weight_broadcast.h"

#include <cstring>
#include <thread>
#include <utility>

#include <ATen/ATen.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "learner/communicator.h"

namespace memr1::learner {
namespace {

constexpr char kMagic[8] = {'M', 'E', 'M', 'R', '1', 'W', 'B', '1'};
constexpr int kVersionOffset = 8;
constexpr int kTotalOffset = 16;
constexpr int kHashOffset = 24;
constexpr int kHashBytes = 64;
constexpr int kFormatOffset = kHashOffset + kHashBytes;
constexpr int kFormatBytes = kWeightBroadcastHeaderBytes - kFormatOffset;
constexpr int64_t kCloseVersion = -1;

void PutInt64(uint8_t* out, int64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (8 * i));
}

int64_t GetInt64(const uint8_t* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return static_cast<int64_t>(value);
}

at::TensorOptions BytesOn(const Communicator& comm) {
  return at::TensorOptions().dtype(at::kByte).device(comm.device());
}

absl::Status SendHeader(Communicator& comm, int64_t version, int64_t total_bytes,
                        const std::string& hash, const std::string& format) {
  if (hash.size() != kHashBytes && version != kCloseVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight broadcast: content hash must be 64 hex digits, got '", hash, "'"));
  }
  if (format.size() >= kFormatBytes) {
    return absl::InvalidArgumentError(absl::StrCat("weight broadcast: format name '", format,
                                                   "' is longer than ", kFormatBytes - 1));
  }
  at::Tensor header = at::zeros({kWeightBroadcastHeaderBytes}, at::TensorOptions().dtype(at::kByte));
  uint8_t* data = header.data_ptr<uint8_t>();
  std::memcpy(data, kMagic, sizeof(kMagic));
  PutInt64(data + kVersionOffset, version);
  PutInt64(data + kTotalOffset, total_bytes);
  std::memcpy(data + kHashOffset, hash.data(), hash.size());
  std::memcpy(data + kFormatOffset, format.data(), format.size());
  at::Tensor on_device = header.to(comm.device());
  return comm.Broadcast(on_device, 0);
}

}  // namespace

absl::StatusOr<int> BroadcastDeviceIndex(const std::string& model_device) {
  int index = 0;
  if (model_device == "cuda" ||
      (absl::StartsWith(model_device, "cuda:") &&
       absl::SimpleAtoi(absl::string_view(model_device).substr(5), &index) && index >= 0)) {
    return index;
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "learner.weight_sync = NCCL_BROADCAST needs model.device cuda (NCCL moves CUDA tensors), "
      "this job's is '", model_device, "'; use GRPC_FETCH"));
}

absl::Status SendWeights(Communicator& comm, const WeightPublisher::Version& version) {
  if (comm.rank() != 0) {
    return absl::FailedPreconditionError("weight broadcast: only group rank 0 sends weights");
  }
  const v1::WeightManifest& manifest = version.manifest;
  if (manifest.version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight broadcast: version must be >= 0, got ", manifest.version()));
  }
  if (manifest.total_bytes() != static_cast<int64_t>(version.bytes.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight broadcast: version ", manifest.version(), " has ", version.bytes.size(),
        " bytes, its manifest says ", manifest.total_bytes()));
  }
  MEMR1_RETURN_IF_ERROR(SendHeader(comm, manifest.version(), manifest.total_bytes(),
                                   manifest.content_hash(), manifest.format()));
  if (version.bytes.empty()) return absl::OkStatus();
  // The root only reads its buffer, so the published bytes are wrapped without a copy on CPU.
  at::Tensor payload = at::from_blob(const_cast<char*>(version.bytes.data()),
                                     {static_cast<int64_t>(version.bytes.size())},
                                     at::TensorOptions().dtype(at::kByte));
  if (comm.device().type() != at::kCPU) payload = payload.to(comm.device());
  return comm.Broadcast(payload, 0);
}

absl::Status SendGroupClose(Communicator& comm) {
  if (comm.rank() != 0) {
    return absl::FailedPreconditionError("weight broadcast: only group rank 0 closes the group");
  }
  return SendHeader(comm, kCloseVersion, 0, "", "");
}

absl::StatusOr<WeightPublisher::Version> ReceiveWeights(Communicator& comm) {
  if (comm.rank() == 0) {
    return absl::FailedPreconditionError("weight broadcast: group rank 0 sends, it does not receive");
  }
  at::Tensor header = at::empty({kWeightBroadcastHeaderBytes}, BytesOn(comm));
  MEMR1_RETURN_IF_ERROR(comm.Broadcast(header, 0));
  header = header.to(at::kCPU);
  const uint8_t* data = header.data_ptr<uint8_t>();
  if (std::memcmp(data, kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError("weight broadcast: header without the MEMR1WB1 magic");
  }
  const int64_t version = GetInt64(data + kVersionOffset);
  const int64_t total = GetInt64(data + kTotalOffset);
  if (version == kCloseVersion) return absl::OutOfRangeError("weight broadcast: group closed");
  if (version < 0 || total < 0) {
    return absl::InvalidArgumentError(absl::StrCat("weight broadcast: header with version ",
                                                   version, " and size ", total));
  }
  WeightPublisher::Version received;
  received.manifest.set_version(version);
  received.manifest.set_total_bytes(total);
  received.manifest.set_content_hash(
      std::string(reinterpret_cast<const char*>(data + kHashOffset), kHashBytes));
  const char* format = reinterpret_cast<const char*>(data + kFormatOffset);
  received.manifest.set_format(std::string(format, strnlen(format, kFormatBytes)));
  if (total > 0) {
    at::Tensor payload = at::empty({total}, BytesOn(comm));
    MEMR1_RETURN_IF_ERROR(comm.Broadcast(payload, 0));
    payload = payload.to(at::kCPU).contiguous();
    received.bytes.assign(reinterpret_cast<const char*>(payload.data_ptr<uint8_t>()),
                          static_cast<size_t>(total));
  }
  const std::string actual = Sha256Hex(received.bytes);
  if (actual != received.manifest.content_hash()) {
    return absl::DataLossError(absl::StrCat("weight broadcast: version ", version, " hashes to ",
                                            actual, ", rank 0 announced ",
                                            received.manifest.content_hash()));
  }
  return received;
}

// ---------------------------------------------------------------------------------------------
// BroadcastGroupRegistry

BroadcastGroupRegistry::BroadcastGroupRegistry(std::string unique_id, int num_actors)
    : unique_id_(std::move(unique_id)), num_actors_(num_actors) {}

absl::StatusOr<v1::BroadcastGroup> BroadcastGroupRegistry::Join(const std::string& actor_id) {
  if (actor_id.empty()) return absl::InvalidArgumentError("weight broadcast: empty actor id");
  absl::MutexLock lock(&mu_);
  size_t index = 0;
  while (index < actors_.size() && actors_[index] != actor_id) ++index;
  if (index == actors_.size()) {
    if (static_cast<int>(actors_.size()) == num_actors_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "weight broadcast: all ", num_actors_, " actor ranks are taken; actor ", actor_id,
          " syncs over gRPC"));
    }
    actors_.push_back(actor_id);
  }
  v1::BroadcastGroup group;
  group.set_unique_id(unique_id_);
  group.set_rank(static_cast<int32_t>(index) + 1);
  group.set_world_size(num_actors_ + 1);
  return group;
}

// ---------------------------------------------------------------------------------------------
// Background threads. Each thread owns its communicator and holds the shared state, so an
// owner that goes away while the thread is blocked in a collective leaves nothing dangling.

namespace {

// Waits up to `timeout` for `done`, then joins or detaches `thread`.
template <typename SharedT>
void FinishThread(std::thread& thread, SharedT& shared, absl::Duration timeout) {
  bool done = false;
  {
    absl::MutexLock lock(&shared.mu);
    done = shared.mu.AwaitWithTimeout(absl::Condition(&shared.done), timeout);
  }
  if (done) {
    thread.join();
  } else {
    MEMR1_LOG(WARNING) << "weight broadcast: the group thread is blocked in a collective; "
                          "leaving it to end with the process";
    thread.detach();
  }
}

void CountFailure(const char* side) {
  MetricsRegistry::Default()
      .GetCounter("memr1_weight_broadcast_failures_total",
                  "weight broadcast groups that failed (the job falls back to gRPC fetches)",
                  {{"side", side}})
      ->Increment();
}

}  // namespace

struct WeightBroadcaster::Shared {
  absl::Mutex mu;
  std::shared_ptr<const WeightPublisher::Version> pending ABSL_GUARDED_BY(mu);
  bool closing ABSL_GUARDED_BY(mu) = false;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);
  int64_t sent_version ABSL_GUARDED_BY(mu) = -1;
  std::thread thread;
};

namespace {

void RunBroadcaster(std::shared_ptr<WeightBroadcaster::Shared> shared, GroupJoiner joiner,
                    std::string unique_id, int world, absl::Duration join_timeout) {
  auto fail = [&](const absl::Status& status) {
    MEMR1_LOG(WARNING) << "weight broadcast (rank 0): " << status.message()
                       << "; actors fetch weights over gRPC";
    CountFailure("learner");
    absl::MutexLock lock(&shared->mu);
    shared->status = status;
    shared->done = true;
  };
  absl::StatusOr<std::unique_ptr<Communicator>> comm =
      joiner(unique_id, 0, world, absl::Now() + join_timeout);
  if (!comm.ok()) {
    fail(absl::UnavailableError(
        absl::StrCat("the broadcast group of ", world, " members did not form: ",
                     comm.status().message())));
    return;
  }
  MEMR1_LOG(INFO) << "weight broadcast: group of " << world << " formed ("
                  << (*comm)->name() << ")";
  while (true) {
    std::shared_ptr<const WeightPublisher::Version> next;
    {
      absl::MutexLock lock(&shared->mu);
      shared->mu.Await(absl::Condition(
          +[](WeightBroadcaster::Shared* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
            return s->pending != nullptr || s->closing;
          },
          shared.get()));
      if (shared->closing) break;
      next = std::move(shared->pending);
    }
    const absl::Time start = absl::Now();
    const absl::Status sent = SendWeights(**comm, *next);
    if (!sent.ok()) {
      fail(absl::UnavailableError(absl::StrCat("sending version ", next->manifest.version(),
                                               ": ", sent.message())));
      return;
    }
    MetricsRegistry::Default()
        .GetCounter("memr1_weight_broadcast_seconds_total", "time rank 0 spent broadcasting")
        ->Increment(absl::ToDoubleSeconds(absl::Now() - start));
    absl::MutexLock lock(&shared->mu);
    shared->sent_version = next->manifest.version();
  }
  const absl::Status closed = SendGroupClose(**comm);
  if (!closed.ok()) MEMR1_LOG(WARNING) << "weight broadcast: closing: " << closed.message();
  absl::MutexLock lock(&shared->mu);
  shared->done = true;
}

}  // namespace

WeightBroadcaster::WeightBroadcaster(GroupJoiner joiner, std::string unique_id, int world,
                                     absl::Duration join_timeout)
    : shared_(std::make_shared<Shared>()) {
  shared_->thread = std::thread(RunBroadcaster, shared_, std::move(joiner), std::move(unique_id),
                                world, join_timeout);
}

WeightBroadcaster::~WeightBroadcaster() {
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->closing = true;
  }
  FinishThread(shared_->thread, *shared_, absl::Seconds(10));
}

void WeightBroadcaster::Offer(std::shared_ptr<const WeightPublisher::Version> version) {
  absl::MutexLock lock(&shared_->mu);
  if (shared_->done) return;
  shared_->pending = std::move(version);
}

absl::Status WeightBroadcaster::status() const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->status;
}

int64_t WeightBroadcaster::sent_version() const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->sent_version;
}

absl::Status WeightBroadcaster::WaitSent(int64_t version, absl::Duration timeout) const {
  Shared* shared = shared_.get();
  absl::MutexLock lock(&shared->mu);
  auto ready = [shared, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared->mu) {
    return shared->sent_version >= version || !shared->status.ok() || shared->done;
  };
  shared->mu.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (shared->sent_version >= version) return absl::OkStatus();
  if (!shared->status.ok()) return shared->status;
  return absl::DeadlineExceededError(
      absl::StrCat("weight broadcast: version ", version, " not sent within ",
                   absl::FormatDuration(timeout)));
}

// ---------------------------------------------------------------------------------------------
// WeightBroadcastReceiver

struct WeightBroadcastReceiver::Shared {
  absl::Mutex mu;
  std::shared_ptr<const WeightPublisher::Version> newest ABSL_GUARDED_BY(mu);
  absl::Status status ABSL_GUARDED_BY(mu);
  bool done ABSL_GUARDED_BY(mu) = false;
  std::thread thread;
};

namespace {

void RunReceiver(std::shared_ptr<WeightBroadcastReceiver::Shared> shared, GroupJoiner joiner,
                 v1::BroadcastGroup group, absl::Duration join_timeout) {
  auto finish = [&](const absl::Status& status, bool failure) {
    if (failure) {
      MEMR1_LOG(WARNING) << "weight broadcast (rank " << group.rank() << "): "
                         << status.message() << "; fetching weights over gRPC";
      CountFailure("actor");
    }
    absl::MutexLock lock(&shared->mu);
    shared->status = status;
    shared->done = true;
  };
  absl::StatusOr<std::unique_ptr<Communicator>> comm =
      joiner(group.unique_id(), group.rank(), group.world_size(), absl::Now() + join_timeout);
  if (!comm.ok()) {
    finish(absl::UnavailableError(absl::StrCat("joining the broadcast group as rank ",
                                               group.rank(), ": ", comm.status().message())),
           true);
    return;
  }
  while (true) {
    absl::StatusOr<WeightPublisher::Version> received = ReceiveWeights(**comm);
    if (absl::IsOutOfRange(received.status())) {
      finish(absl::UnavailableError("the broadcast group was closed by learner rank 0"), false);
      return;
    }
    if (!received.ok()) {
      finish(absl::UnavailableError(received.status().message()), true);
      return;
    }
    auto version = std::make_shared<const WeightPublisher::Version>(*std::move(received));
    absl::MutexLock lock(&shared->mu);
    shared->newest = std::move(version);
  }
}

}  // namespace

WeightBroadcastReceiver::WeightBroadcastReceiver(GroupJoiner joiner, v1::BroadcastGroup group,
                                                 absl::Duration join_timeout)
    : shared_(std::make_shared<Shared>()) {
  shared_->thread =
      std::thread(RunReceiver, shared_, std::move(joiner), std::move(group), join_timeout);
}

WeightBroadcastReceiver::~WeightBroadcastReceiver() {
  FinishThread(shared_->thread, *shared_, absl::Seconds(2));
}

absl::StatusOr<std::shared_ptr<const WeightPublisher::Version>> WeightBroadcastReceiver::WaitFor(
    int64_t min_version, absl::Duration timeout) const {
  Shared* shared = shared_.get();
  absl::MutexLock lock(&shared->mu);
  auto ready = [shared, min_version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared->mu) {
    return (shared->newest != nullptr && shared->newest->manifest.version() >= min_version) ||
           shared->done;
  };
  shared->mu.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (shared->newest != nullptr && shared->newest->manifest.version() >= min_version) {
    return shared->newest;
  }
  if (shared->done) return shared->status;
  return absl::DeadlineExceededError(
      absl::StrCat("weight broadcast: no version >= ", min_version, " within ",
                   absl::FormatDuration(timeout)));
}

absl::Status WeightBroadcastReceiver::status() const {
  absl::MutexLock lock(&shared_->mu);
  return shared_->status;
}

#if !MEMR1_WITH_NCCL
GroupJoiner NcclGroupJoiner(int /*device*/) {
  return [](const std::string&, int, int, absl::Time) -> absl::StatusOr<std::unique_ptr<Communicator>> {
    return absl::UnimplementedError("memr1 was built without NCCL (nccl.h was not found)");
  };
}

absl::StatusOr<std::string> NewNcclGroupId() {
  return absl::UnimplementedError("memr1 was built without NCCL (nccl.h was not found)");
}
#endif

}  // namespace memr1::learner
