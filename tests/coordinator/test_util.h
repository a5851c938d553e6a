#pragma once

// Helpers of the coordinator suites: temp dirs, a small synthetic world as the episode stream,
// and request builders.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "actor/synthetic_world.h"
#include "coordinator/episode_stream.h"
#include "coordinator/job_state.h"
#include "tests/testing/files.h"

namespace memr1::coordinator::testing {

using ::memr1::testing::TempDir;

// Answer Agent episodes over a 2-conversation synthetic world.
inline std::unique_ptr<EpisodeStream> TestEpisodes(uint64_t seed = 7) {
  actor::SyntheticWorldOptions options;
  options.conversations = 2;
  options.sessions_per_conversation = 2;
  options.turns_per_session = 6;
  options.questions_per_conversation = 5;
  absl::StatusOr<actor::Dataset> world = actor::GenerateSyntheticWorld(options);
  if (!world.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<EpisodeStream>> stream = EpisodeStream::FromConversations(
      std::move(world->conversations), /*memory_manager=*/false, seed);
  if (!stream.ok()) return nullptr;
  return std::move(*stream);
}

}  // namespace memr1::coordinator::testing
