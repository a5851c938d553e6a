#pragma once

// Policies from the job config: MakePolicy turns one PolicyConfig into a TextPolicy, and
// PolicySet gives the three agent roles (fact extraction, Memory Manager, Answer Agent) their
// policies, loading each distinct model once.
//
// Thread safety: MakePolicy is a pure factory. A PolicySet is not thread safe (it hands out the
// policies it owns; see each policy's own thread safety).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/text_policy.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

// LOCAL: a LocalPolicy over policy.model_path(), or job.model().path() when that is empty
// (InvalidArgument naming both keys when both are empty), with the tokenizer settings of
// job.tokenizer(), device and dtype of job.model(), max_prompt_tokens / max_response_tokens of
// job.actor().sampling() and policy.max_batch_size().
// OPENAI: an OpenAiPolicy (InvalidArgument naming the key when base_url or model is empty).
// TEACHER: the synthetic world's scripted teacher (actor/teacher.h, MakeTeacherPolicy).
// Loading errors (missing model files, bad tokenizer) come from the policies themselves.
absl::StatusOr<std::unique_ptr<TextPolicy>> MakePolicy(const v1::PolicyConfig& policy,
                                                       const v1::JobConfig& job);

// The policies of a job's agents. Extraction uses the Memory Manager's policy config
// (actor.memory_manager.policy); the Answer Agent uses actor.answer_agent.policy; an unset
// config is the local base model. Configs that resolve to the same backend and model (LOCAL:
// the same model directory; OPENAI: the same base_url and model; TEACHER: always) share one
// instance, whose other settings (batch size, timeouts) are those of the first agent in the
// order manager, answer. The returned pointers live as long as the PolicySet (moving it keeps
// them valid).
class PolicySet {
 public:
  // `base_model_only` makes every LOCAL policy use model.path, ignoring policy.model_path (the
  // Mem0-style baseline: the same agents on the base model). Errors name the agent's config
  // key ("actor.memory_manager.policy: ...").
  static absl::StatusOr<PolicySet> FromJob(const v1::JobConfig& job, bool base_model_only);

  TextPolicy* extraction() const { return manager_; }
  TextPolicy* manager() const { return manager_; }
  TextPolicy* answer() const { return answer_; }
  // Every distinct policy, in the order manager, answer (1 or 2 entries).
  std::vector<TextPolicy*> distinct() const;

 private:
  PolicySet() = default;

  std::vector<std::unique_ptr<TextPolicy>> owned_;
  TextPolicy* manager_ = nullptr;
  TextPolicy* answer_ = nullptr;
};

}  // namespace memr1::actor
