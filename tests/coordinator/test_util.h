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

namespace memr1::coordinator::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/coordinator_XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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
