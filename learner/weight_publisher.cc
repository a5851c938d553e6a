#include "learner/weight_publisher.h"


#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "learner/weight_broadcast.h"
#include "llm/safetensors_buffer.h"

namespace memr1::learner {


absl::Status WeightPublisherOptions::Validate() const {
  if (chunk_bytes < 1 || chunk_bytes > kMaxWeightChunkBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weights: chunk_bytes must be in [1, ", kMaxWeightChunkBytes, "], got ", chunk_bytes));
  }
  if (keep_versions < 1) return absl::InvalidArgumentError("weights: keep_versions must be >= 1");
  return absl::OkStatus();
}

WeightPublisher::WeightPublisher(WeightPublisherOptions options) : options_(options) {}

absl::Status WeightPublisher::Publish(int64_t version, std::string bytes,
                                      const std::string& format) {
  if (version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("weights: version must be >= 0, got ", version));
  }
  {
    absl::MutexLock lock(&mu_);
    if (!versions_.empty() && version <= versions_.back()->manifest.version()) {
      return absl::FailedPreconditionError(
          absl::StrCat("weights: version ", version, " is not newer than the published version ",
                       versions_.back()->manifest.version()));
    }
  }
  // Hashing 100s of MB takes a while; do it outside the lock.
  const absl::Time start = absl::Now();
  auto published = std::make_shared<Version>();
  published->manifest.set_version(version);
  published->manifest.set_content_hash(Sha256Hex(bytes));
  published->manifest.set_total_bytes(static_cast<int64_t>(bytes.size()));
  published->manifest.set_chunk_bytes(options_.chunk_bytes);
  published->manifest.set_format(format);
  published->bytes = std::move(bytes);
  {
    absl::MutexLock lock(&mu_);
    if (!versions_.empty() && version <= versions_.back()->manifest.version()) {
      return absl::FailedPreconditionError(
          absl::StrCat("weights: version ", version, " is not newer than the published version ",
                       versions_.back()->manifest.version()));
    }
    versions_.push_back(std::move(published));
    while (static_cast<int>(versions_.size()) > options_.keep_versions) versions_.pop_front();
  }
  MetricsRegistry& registry = MetricsRegistry::Default();
  registry.GetGauge("memr1_learner_published_version", "newest published policy version")
      ->Set(static_cast<double>(version));
  registry
      .GetCounter("memr1_learner_publish_seconds_total", "time spent hashing published weights")
      ->Increment(absl::ToDoubleSeconds(absl::Now() - start));
  return absl::OkStatus();
}

absl::Status WeightPublisher::PublishModel(int64_t version, const llm::CausalLM& model) {
  MEMR1_ASSIGN_OR_RETURN(std::string bytes, llm::SerializeCausalLMWeights(model));
  return Publish(version, std::move(bytes));
}

absl::StatusOr<std::shared_ptr<const WeightPublisher::Version>> WeightPublisher::Get(
    int64_t version) const {
  absl::MutexLock lock(&mu_);
  if (versions_.empty()) return absl::NotFoundError("weights: nothing published yet");
  if (version == 0) return versions_.back();
  for (const auto& held : versions_) {
    if (held->manifest.version() == version) return held;
  }
  return absl::NotFoundError(absl::StrCat("weights: version ", version,
                                          " is not held (held: ", versions_.front()->manifest.version(),
                                          "..", versions_.back()->manifest.version(), ")"));
}

absl::StatusOr<v1::WeightManifest> WeightPublisher::GetManifest(int64_t version) const {
  MEMR1_ASSIGN_OR_RETURN(std::shared_ptr<const Version> held, Get(version));
  return held->manifest;
}

int64_t WeightPublisher::newest_version() const {
  absl::MutexLock lock(&mu_);
  return versions_.empty() ? -1 : versions_.back()->manifest.version();
}

WeightsService::WeightsService(const WeightPublisher* publisher, std::string job_token)
    : publisher_(publisher), job_token_(std::move(job_token)) {}

grpc::Status WeightsService::GetManifest(grpc::ServerContext* context,
                                         const v1::WeightManifestRequest* request,
                                         v1::WeightManifest* reply) {
  const absl::Status auth = CheckJobToken(*context, job_token_);
  if (!auth.ok()) return ToGrpcStatus(auth);
  absl::StatusOr<v1::WeightManifest> manifest = publisher_->GetManifest(request->version());
  if (!manifest.ok()) return ToGrpcStatus(manifest.status());
  *reply = *std::move(manifest);
  return grpc::Status::OK;
}

grpc::Status WeightsService::JoinBroadcastGroup(grpc::ServerContext* context,
                                                const v1::JoinBroadcastGroupRequest* request,
                                                v1::BroadcastGroup* reply) {
  const absl::Status auth = CheckJobToken(*context, job_token_);
  if (!auth.ok()) return ToGrpcStatus(auth);
  if (broadcast_group_ == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "weights: this job syncs weights over gRPC (learner.weight_sync is GRPC_FETCH)"));
  }
  absl::StatusOr<v1::BroadcastGroup> group = broadcast_group_->Join(request->actor_id());
  if (!group.ok()) return ToGrpcStatus(group.status());
  *reply = *std::move(group);
  return grpc::Status::OK;
}

grpc::Status WeightsService::FetchWeights(grpc::ServerContext* context,
                                          const v1::FetchWeightsRequest* request,
                                          grpc::ServerWriter<v1::WeightChunk>* writer) {
  const absl::Status auth = CheckJobToken(*context, job_token_);
  if (!auth.ok()) return ToGrpcStatus(auth);
  absl::StatusOr<std::shared_ptr<const WeightPublisher::Version>> held =
      publisher_->Get(request->version());
  if (!held.ok()) return ToGrpcStatus(held.status());
  const std::string& bytes = (*held)->bytes;
  const int64_t total = static_cast<int64_t>(bytes.size());
  if (request->offset() < 0 || request->offset() > total) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("weights: offset ", request->offset(), " outside [0, ", total,
                     "] of version ", (*held)->manifest.version())));
  }
  const int64_t chunk = (*held)->manifest.chunk_bytes();
  v1::WeightChunk message;
  for (int64_t offset = request->offset(); offset < total; offset += chunk) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    const int64_t length = std::min(chunk, total - offset);
    message.set_offset(offset);
    message.set_data(bytes.data() + offset, static_cast<size_t>(length));
    if (!writer->Write(message)) return grpc::Status::CANCELLED;  // the client went away
  }
  return grpc::Status::OK;
}

}  // namespace memr1::learner
