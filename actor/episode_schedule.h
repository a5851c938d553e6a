#pragma once

// Which episodes a training stage runs, in which order: shared by `memr1 rollout` and the
// coordinator's work queue, so both draw the same stream of episodes from the same seed.
//
// Candidates: MEMORY_MANAGER — every (conversation, turn) of ManagerEpisodeTurns, conversations
// in order; ANSWER_AGENT — every question of every conversation. The stream shuffles the
// candidates with the seed (a SplitMix64 Fisher-Yates: the same order on every platform and
// standard library), yields them in that order, and reshuffles for every further pass.
//
// Thread safety: an EpisodeSchedule is not thread safe; candidates point into the conversations,
// which must outlive them.

#include <cstdint>
#include <vector>

#include "actor/dataset.h"

namespace memr1::actor {

struct EpisodeCandidate {
  size_t conversation = 0;     // index into the conversations given
  int turn = -1;               // Memory Manager episodes
  const QaItem* qa = nullptr;  // Answer Agent episodes
};

std::vector<EpisodeCandidate> EpisodeCandidates(
    const std::vector<const Conversation*>& conversations, bool memory_manager);

class EpisodeSchedule {
 public:
  // `candidates` must not be empty.
  EpisodeSchedule(std::vector<EpisodeCandidate> candidates, uint64_t seed);

  // The next episode of the stream.
  EpisodeCandidate Next();
  // Episodes taken so far.
  int64_t taken() const { return taken_; }

 private:
  std::vector<EpisodeCandidate> candidates_;
  std::vector<EpisodeCandidate> pass_;  // the current pass, next one at the back
  uint64_t state_;
  int64_t taken_ = 0;
};

// The sampling seed of episode `index` of a job with seed `job_seed`.
uint64_t EpisodeSeed(uint64_t job_seed, int64_t index);

}  // namespace memr1::actor
