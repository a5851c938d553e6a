#pragma once

// EpisodeStream: the episodes of a job's work queue, in order. Unit e of the job (counted over
// all steps, step-major) is the e-th episode of the EpisodeSchedule (actor/episode_schedule.h)
// over the train split, seeded with the job seed — the same stream `memr1 rollout` draws, so a
// distributed job and a one-process rollout run the same episodes in the same order.
//
// Thread safety: not thread safe (JobState calls it under its owner's lock).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/dataset.h"
#include "actor/episode_schedule.h"
#include "memr1/v1/config.pb.h"

namespace memr1::coordinator {

// What a work unit names: a Memory Manager turn or an Answer Agent question.
struct EpisodeRef {
  std::string conversation_id;
  int turn = -1;            // Memory Manager episodes: the global turn index
  std::string question_id;  // Answer Agent episodes
};

class EpisodeStream {
 public:
  // Loads the job's dataset (config.data()) and takes its train split; the agent is
  // config.actor().train_agent(), the seed config.seed(). InvalidArgument when the split offers
  // no episode of that agent.
  static absl::StatusOr<std::unique_ptr<EpisodeStream>> FromConfig(const v1::JobConfig& config);
  // Over the given conversations (tests, and FromConfig).
  static absl::StatusOr<std::unique_ptr<EpisodeStream>> FromConversations(
      std::vector<actor::Conversation> conversations, bool memory_manager, uint64_t seed);

  // The next episode of the stream.
  EpisodeRef Next();
  // Episodes taken so far.
  int64_t taken() const { return schedule_->taken(); }

 private:
  EpisodeStream() = default;

  std::vector<actor::Conversation> conversations_;
  std::unique_ptr<actor::EpisodeSchedule> schedule_;
};

}  // namespace memr1::coordinator
