#pragma once

// WeightClient: an actor's side of weight sync (learner_service.proto's Weights service on
// learner rank 0). Fetches a version's manifest and bytes, resuming from the last byte received
// when the stream breaks (bounded retries), verifies size and SHA-256 and applies the weights
// to a LocalPolicy, which then reports the new version. Verification happens before anything
// is applied: a mismatch is DataLoss naming both hashes and the policy is unchanged.
//
// Thread safety: the client is thread safe (calls are independent). Apply() touches the policy,
// which is not thread safe: call it between episodes, from the thread that runs the policy.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "memr1/v1/learner_service.grpc.pb.h"

namespace memr1::actor {

class LocalPolicy;

struct WeightClientOptions {
  // Learner rank 0's Weights address (host:port).
  std::string address;
  std::string job_token;
  ChannelOptions channel;
  // Deadline of GetManifest and of each FetchWeights call (one call streams the rest of the
  // version, so this bounds one attempt at the whole transfer).
  absl::Duration call_timeout = absl::Minutes(5);
  // FetchWeights calls that may fail (each resumes from the last byte received) before Fetch
  // gives up.
  int max_retries = 5;
  absl::Duration retry_backoff = absl::Milliseconds(200);
  // Where fetched bytes are staged for loading (a private directory, removed at once); the
  // system temporary directory when empty.
  std::string scratch_dir;

  absl::Status Validate() const;
};

// A verified version: its manifest and exactly manifest.total_bytes bytes hashing to
// manifest.content_hash.
struct FetchedWeights {
  v1::WeightManifest manifest;
  std::string bytes;
};

class WeightClient {
 public:
  static absl::StatusOr<std::unique_ptr<WeightClient>> Create(WeightClientOptions options);
  // With a given stub (tests: a scripted or in-process one).
  static absl::StatusOr<std::unique_ptr<WeightClient>> Create(
      WeightClientOptions options, std::unique_ptr<v1::Weights::StubInterface> stub);

  // The manifest of `version` (0: the newest). NotFound when the publisher no longer holds it.
  absl::StatusOr<v1::WeightManifest> GetManifest(int64_t version = 0);

  // Fetches and verifies `version` (0: the newest). Errors: NotFound / Unauthenticated from
  // the publisher; Unavailable after max_retries failed calls; DataLoss for bytes that do not
  // match the manifest (size, chunk offsets, hash: both hashes named).
  absl::StatusOr<FetchedWeights> Fetch(int64_t version = 0);
  // As Fetch, for a known manifest, resuming at `offset` with `prefix` (the bytes before it).
  absl::StatusOr<FetchedWeights> FetchFrom(const v1::WeightManifest& manifest, std::string prefix);

  // Loads verified weights into `policy` (LocalPolicy::SetWeights: names and shapes checked
  // before the first copy) and sets its version. InvalidArgument for a format other than
  // "safetensors"; on error the policy is unchanged.
  absl::Status Apply(const FetchedWeights& weights, LocalPolicy* policy) const;

  // This actor's place in learner rank 0's NCCL weight broadcast group (learner.weight_sync =
  // NCCL_BROADCAST); FailedPrecondition when the job syncs over gRPC only.
  absl::StatusOr<v1::BroadcastGroup> JoinBroadcastGroup(const std::string& actor_id);

  // Fetches the newest version and applies it when it is newer than policy->version().
  // Returns the policy's version afterwards.
  absl::StatusOr<int64_t> Sync(LocalPolicy* policy);

 private:
  WeightClient(WeightClientOptions options, std::unique_ptr<v1::Weights::StubInterface> stub);

  const WeightClientOptions options_;
  std::unique_ptr<v1::Weights::StubInterface> stub_;
};

}  // namespace memr1::actor
