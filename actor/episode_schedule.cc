#include "actor/episode_schedule.h"

#include <algorithm>
#include <utility>

#include "actor/episodes.h"

namespace memr1::actor {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<EpisodeCandidate> EpisodeCandidates(
    const std::vector<const Conversation*>& conversations, bool memory_manager) {
  std::vector<EpisodeCandidate> candidates;
  for (size_t c = 0; c < conversations.size(); ++c) {
    if (memory_manager) {
      for (int turn : ManagerEpisodeTurns(*conversations[c])) candidates.push_back({c, turn});
    } else {
      for (const QaItem& qa : conversations[c]->qa) candidates.push_back({c, -1, &qa});
    }
  }
  return candidates;
}

EpisodeSchedule::EpisodeSchedule(std::vector<EpisodeCandidate> candidates, uint64_t seed)
    : candidates_(std::move(candidates)), state_(seed) {}

EpisodeCandidate EpisodeSchedule::Next() {
  if (pass_.empty()) {
    pass_ = candidates_;
    for (size_t i = pass_.size(); i > 1; --i) {
      const size_t j = static_cast<size_t>(SplitMix64(&state_) % i);
      std::swap(pass_[i - 1], pass_[j]);
    }
    std::reverse(pass_.begin(), pass_.end());  // taken from the back, in shuffled order
  }
  EpisodeCandidate next = pass_.back();
  pass_.pop_back();
  ++taken_;
  return next;
}

uint64_t EpisodeSeed(uint64_t job_seed, int64_t index) {
  return job_seed * 1000003ull + static_cast<uint64_t>(index);
}

}  // namespace memr1::actor
