#pragma once

// Weight publication on learner rank 0: WeightPublisher keeps the newest two policy versions
// as byte strings (one safetensors file each, llm/safetensors_buffer.h) with their SHA-256, and
// WeightsService serves them (learner_service.proto's Weights: GetManifest, FetchWeights in
// chunks from an offset, so a broken fetch resumes where it stopped).
//
// Memory: two versions of the model's bytes are held (a fetch in progress keeps its version
// alive until it ends, even after two newer ones were published).
//
// Thread safety: thread safe. Publish may run while fetches stream an older version.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sha256.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "memr1/v1/learner_service.grpc.pb.h"

namespace memr1::llm {
class CausalLM;
}  // namespace memr1::llm

namespace memr1::learner {

class BroadcastGroupRegistry;

// SHA-256 hex of published bytes (common/sha256.h).
using ::memr1::Sha256Hex;

inline constexpr int32_t kMaxWeightChunkBytes = 4 << 20;

struct WeightPublisherOptions {
  // Bytes per FetchWeights message: 1 .. kMaxWeightChunkBytes.
  int32_t chunk_bytes = 1 << 20;
  // Versions kept (the newest ones); at least 1.
  int keep_versions = 2;
  // InvalidArgument naming the field.
  absl::Status Validate() const;
};

class WeightPublisher {
 public:
  // `options` must be valid (Validate()).
  explicit WeightPublisher(WeightPublisherOptions options = {});

  // One published version: immutable once published.
  struct Version {
    v1::WeightManifest manifest;
    std::string bytes;
  };

  // Publishes `bytes` (format "safetensors" unless told otherwise) as `version`, computing its
  // hash, and forgets versions beyond the newest keep_versions. InvalidArgument for a negative
  // version, FailedPrecondition unless `version` is newer than every published one.
  absl::Status Publish(int64_t version, std::string bytes,
                       const std::string& format = "safetensors");
  // Serialises `model`'s parameters (Hugging Face names, the model's dtype) and publishes them.
  absl::Status PublishModel(int64_t version, const llm::CausalLM& model);

  // The version (0: the newest). NotFound when it is not (or no longer) held.
  absl::StatusOr<std::shared_ptr<const Version>> Get(int64_t version) const;
  absl::StatusOr<v1::WeightManifest> GetManifest(int64_t version) const;
  // Newest published version, -1 before the first Publish.
  int64_t newest_version() const;
  int32_t chunk_bytes() const { return options_.chunk_bytes; }

 private:
  const WeightPublisherOptions options_;
  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<const Version>> versions_ ABSL_GUARDED_BY(mu_);  // oldest first
};

// The Weights service over a publisher. Checks the job token (UNAUTHENTICATED). FetchWeights:
// InvalidArgument for an offset outside [0, total_bytes]; NotFound for an unknown version;
// stops early (CANCELLED) when the client goes away.
class WeightsService : public v1::Weights::Service {
 public:
  // `publisher` is not owned and must outlive the service.
  WeightsService(const WeightPublisher* publisher, std::string job_token);

  grpc::Status GetManifest(grpc::ServerContext* context, const v1::WeightManifestRequest* request,
                           v1::WeightManifest* reply) override;
  grpc::Status FetchWeights(grpc::ServerContext* context,
                            const v1::FetchWeightsRequest* request,
                            grpc::ServerWriter<v1::WeightChunk>* writer) override;
  // FAILED_PRECONDITION unless a broadcast group was set.
  grpc::Status JoinBroadcastGroup(grpc::ServerContext* context,
                                  const v1::JoinBroadcastGroupRequest* request,
                                  v1::BroadcastGroup* reply) override;

  // Serves JoinBroadcastGroup from `registry` (weight_broadcast.h; not owned, must outlive the
  // service). Call before the server starts.
  void set_broadcast_group(BroadcastGroupRegistry* registry) { broadcast_group_ = registry; }

 private:
  const WeightPublisher* const publisher_;
  const std::string job_token_;
  BroadcastGroupRegistry* broadcast_group_ = nullptr;
};

}  // namespace memr1::learner
