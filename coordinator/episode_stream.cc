#include "coordinator/episode_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace memr1::coordinator {

absl::StatusOr<std::unique_ptr<EpisodeStream>> EpisodeStream::FromConfig(
    const v1::JobConfig& config) {
  MEMR1_ASSIGN_OR_RETURN(actor::Dataset dataset, actor::LoadDataset(config.data()));
  MEMR1_ASSIGN_OR_RETURN(const actor::DatasetSplits splits,
                         actor::SplitDataset(dataset, actor::SplitSpecFrom(config.data())));
  std::vector<actor::Conversation> train;
  for (const actor::Conversation* conversation : splits.train) train.push_back(*conversation);
  const bool manager = config.actor().train_agent() != v1::ActorConfig::ANSWER_AGENT;
  absl::StatusOr<std::unique_ptr<EpisodeStream>> stream =
      FromConversations(std::move(train), manager, config.seed());
  if (!stream.ok()) {
    return Annotate(stream.status(), absl::StrCat("the train split of ", dataset.source));
  }
  return stream;
}

absl::StatusOr<std::unique_ptr<EpisodeStream>> EpisodeStream::FromConversations(
    std::vector<actor::Conversation> conversations, bool memory_manager, uint64_t seed) {
  std::unique_ptr<EpisodeStream> stream(new EpisodeStream());
  stream->conversations_ = std::move(conversations);
  std::vector<const actor::Conversation*> pointers;
  for (const actor::Conversation& conversation : stream->conversations_) {
    pointers.push_back(&conversation);
  }
  std::vector<actor::EpisodeCandidate> candidates =
      actor::EpisodeCandidates(pointers, memory_manager);
  if (candidates.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no ", memory_manager ? "memory_manager" : "answer_agent", " episodes in ",
        stream->conversations_.size(), " conversation(s) (no turns / questions to train on)"));
  }
  stream->schedule_ = std::make_unique<actor::EpisodeSchedule>(std::move(candidates), seed);
  return stream;
}

EpisodeRef EpisodeStream::Next() {
  const actor::EpisodeCandidate candidate = schedule_->Next();
  EpisodeRef ref;
  ref.conversation_id = conversations_[candidate.conversation].id;
  ref.turn = candidate.turn;
  if (candidate.qa != nullptr) ref.question_id = candidate.qa->id;
  return ref;
}

}  // namespace memr1::coordinator
