#include "actor/weight_client.h"


#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actor/local_policy.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "llm/safetensors_buffer.h"

namespace memr1::actor {
namespace {

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted || code == absl::StatusCode::kCancelled ||
         code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kInternal;
}

}  // namespace

absl::Status WeightClientOptions::Validate() const {
  if (address.empty()) return absl::InvalidArgumentError("weight client: empty address");
  if (call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("weight client: call_timeout must be positive");
  }
  if (max_retries < 0) return absl::InvalidArgumentError("weight client: max_retries must be >= 0");
  if (retry_backoff < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("weight client: retry_backoff must be >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WeightClient>> WeightClient::Create(WeightClientOptions options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  MEMR1_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                         MakeChannel(options.address, options.channel));
  return Create(std::move(options), v1::Weights::NewStub(channel));
}

absl::StatusOr<std::unique_ptr<WeightClient>> WeightClient::Create(
    WeightClientOptions options, std::unique_ptr<v1::Weights::StubInterface> stub) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  if (stub == nullptr) return absl::InvalidArgumentError("weight client: null stub");
  return std::unique_ptr<WeightClient>(new WeightClient(std::move(options), std::move(stub)));
}

WeightClient::WeightClient(WeightClientOptions options,
                           std::unique_ptr<v1::Weights::StubInterface> stub)
    : options_(std::move(options)), stub_(std::move(stub)) {}

absl::StatusOr<v1::WeightManifest> WeightClient::GetManifest(int64_t version) {
  grpc::ClientContext context;
  SetDeadline(&context, options_.call_timeout);
  AttachJobToken(&context, options_.job_token);
  v1::WeightManifestRequest request;
  request.set_version(version);
  v1::WeightManifest manifest;
  const grpc::Status status = stub_->GetManifest(&context, request, &manifest);
  if (!status.ok()) {
    return Annotate(FromGrpcStatus(status),
                    absl::StrCat("weights manifest v", version, " from ", options_.address));
  }
  if (manifest.total_bytes() < 0 || manifest.chunk_bytes() < 1) {
    return absl::DataLossError(absl::StrCat("weights manifest from ", options_.address,
                                            " is malformed: ", manifest.ShortDebugString()));
  }
  return manifest;
}

absl::StatusOr<v1::BroadcastGroup> WeightClient::JoinBroadcastGroup(const std::string& actor_id) {
  grpc::ClientContext context;
  SetDeadline(&context, options_.call_timeout);
  AttachJobToken(&context, options_.job_token);
  v1::JoinBroadcastGroupRequest request;
  request.set_actor_id(actor_id);
  v1::BroadcastGroup group;
  const grpc::Status status = stub_->JoinBroadcastGroup(&context, request, &group);
  if (!status.ok()) {
    return Annotate(FromGrpcStatus(status),
                    absl::StrCat("joining the weight broadcast group at ", options_.address));
  }
  if (group.world_size() < 2 || group.rank() < 1 || group.rank() >= group.world_size()) {
    return absl::DataLossError(absl::StrCat("weight broadcast group from ", options_.address,
                                            " is malformed: rank ", group.rank(), " of ",
                                            group.world_size()));
  }
  return group;
}

absl::StatusOr<FetchedWeights> WeightClient::Fetch(int64_t version) {
  MEMR1_ASSIGN_OR_RETURN(v1::WeightManifest manifest, GetManifest(version));
  return FetchFrom(manifest, "");
}

absl::StatusOr<FetchedWeights> WeightClient::FetchFrom(const v1::WeightManifest& manifest,
                                                       std::string prefix) {
  const absl::Time start = absl::Now();
  const int64_t total = manifest.total_bytes();
  const std::string where =
      absl::StrCat("weights v", manifest.version(), " from ", options_.address);
  if (static_cast<int64_t>(prefix.size()) > total) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": resume offset ", prefix.size(),
                                                   " beyond ", total, " bytes"));
  }
  FetchedWeights fetched;
  fetched.manifest = manifest;
  fetched.bytes = std::move(prefix);
  llm::ReserveLargeBuffer(&fetched.bytes, static_cast<size_t>(total));
  int failures = 0;
  while (true) {
    grpc::ClientContext context;
    SetDeadline(&context, options_.call_timeout);
    AttachJobToken(&context, options_.job_token);
    v1::FetchWeightsRequest request;
    request.set_version(manifest.version());
    request.set_offset(static_cast<int64_t>(fetched.bytes.size()));
    std::unique_ptr<grpc::ClientReaderInterface<v1::WeightChunk>> reader =
        stub_->FetchWeights(&context, request);
    v1::WeightChunk chunk;
    absl::Status bad;
    while (reader->Read(&chunk)) {
      const int64_t have = static_cast<int64_t>(fetched.bytes.size());
      if (chunk.offset() != have ||
          static_cast<int64_t>(chunk.data().size()) > manifest.chunk_bytes() ||
          have + static_cast<int64_t>(chunk.data().size()) > total) {
        bad = absl::DataLossError(absl::StrCat(
            where, ": chunk at offset ", chunk.offset(), " of ", chunk.data().size(),
            " bytes does not continue the ", have, " bytes received (total ", total,
            ", chunks <= ", manifest.chunk_bytes(), ")"));
        context.TryCancel();
        break;
      }
      fetched.bytes.append(chunk.data());
    }
    const absl::Status status = FromGrpcStatus(reader->Finish());
    if (!bad.ok()) return bad;
    const int64_t have = static_cast<int64_t>(fetched.bytes.size());
    if (status.ok() && have == total) break;
    const absl::Status failure =
        status.ok() ? absl::UnavailableError(absl::StrCat("stream ended at byte ", have, " of ",
                                                          total))
                    : status;
    if (!Retryable(failure.code())) return Annotate(failure, where);
    if (++failures > options_.max_retries) {
      return absl::UnavailableError(absl::StrCat(where, ": giving up after ", failures,
                                                 " failed calls at byte ", have, " of ", total,
                                                 ": ", failure.ToString()));
    }
    MEMR1_LOG(WARNING) << where << ": fetch interrupted at byte " << have << " of " << total
                       << " (" << failure << "); resuming";
    MetricsRegistry::Default()
        .GetCounter("memr1_actor_weight_fetch_retries_total", "weight fetches resumed")
        ->Increment();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(options_.retry_backoff * failures));
  }
  const std::string hash = Sha256Hex(fetched.bytes);
  if (hash != manifest.content_hash()) {
    return absl::DataLossError(absl::StrCat(where, ": content hash mismatch: received bytes hash ",
                                            hash, ", the manifest says ",
                                            manifest.content_hash()));
  }
  MetricsRegistry::Default()
      .GetCounter("memr1_actor_weight_fetch_seconds_total", "time spent fetching weights")
      ->Increment(absl::ToDoubleSeconds(absl::Now() - start));
  return fetched;
}

absl::Status WeightClient::Apply(const FetchedWeights& weights, LocalPolicy* policy) const {
  if (weights.manifest.format() != "safetensors") {
    return absl::InvalidArgumentError(absl::StrCat("weights v", weights.manifest.version(),
                                                   ": format \"", weights.manifest.format(),
                                                   "\" cannot be loaded (want safetensors)"));
  }
  if (static_cast<int64_t>(weights.bytes.size()) != weights.manifest.total_bytes()) {
    return absl::DataLossError(absl::StrCat("weights v", weights.manifest.version(), ": ",
                                            weights.bytes.size(), " bytes, the manifest says ",
                                            weights.manifest.total_bytes()));
  }
  MEMR1_ASSIGN_OR_RETURN(auto checkpoint,
                         llm::OpenSafetensorsBytes(weights.bytes, options_.scratch_dir));
  MEMR1_RETURN_IF_ERROR(policy->SetWeights(*checkpoint, weights.manifest.version()));
  MetricsRegistry::Default()
      .GetGauge("memr1_actor_policy_version", "policy version the actor samples with")
      ->Set(static_cast<double>(weights.manifest.version()));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> WeightClient::Sync(LocalPolicy* policy) {
  MEMR1_ASSIGN_OR_RETURN(v1::WeightManifest manifest, GetManifest(0));
  if (manifest.version() <= policy->version()) return policy->version();
  MEMR1_ASSIGN_OR_RETURN(FetchedWeights fetched, FetchFrom(manifest, ""));
  MEMR1_RETURN_IF_ERROR(Apply(fetched, policy));
  return policy->version();
}

}  // namespace memr1::actor
