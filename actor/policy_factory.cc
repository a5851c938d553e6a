#include "actor/policy_factory.h"

#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actor/local_policy.h"
#include "actor/openai_policy.h"
#include "actor/teacher.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

std::string DtypeName(v1::ModelConfig::DType dtype) {
  switch (dtype) {
    case v1::ModelConfig::BFLOAT16:
      return "bfloat16";
    case v1::ModelConfig::FLOAT16:
      return "float16";
    default:
      return "float32";
  }
}

// The LOCAL model directory a config resolves to; empty when neither key is set.
std::string LocalModelDir(const v1::PolicyConfig& policy, const v1::JobConfig& job) {
  return policy.model_path().empty() ? job.model().path() : policy.model_path();
}

// Two spellings of one directory ("m/", "./m") must share a model.
std::string NormalPath(const std::string& path) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error) absolute = path;
  std::string normal = absolute.lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

// What decides sharing: the backend and the model it serves.
std::string SharingKey(const v1::PolicyConfig& policy, const v1::JobConfig& job) {
  if (policy.backend() == v1::PolicyConfig::OPENAI) {
    return absl::StrCat("openai\n", policy.base_url(), "\n", policy.model());
  }
  // One teacher serves every agent (it reads which agent from the prompt).
  if (policy.backend() == v1::PolicyConfig::TEACHER) return "teacher";
  return absl::StrCat("local\n", NormalPath(LocalModelDir(policy, job)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TextPolicy>> MakePolicy(const v1::PolicyConfig& policy,
                                                       const v1::JobConfig& job) {
  switch (policy.backend()) {
    case v1::PolicyConfig::LOCAL: {
      LocalPolicyOptions options;
      options.model_dir = LocalModelDir(policy, job);
      if (options.model_dir.empty()) {
        return absl::InvalidArgumentError(
            "a LOCAL policy needs a model directory: set actor.*.policy.model_path or "
            "model.path");
      }
      options.tokenizer_path = job.tokenizer().path();
      options.chat_family = job.tokenizer().chat_family();
      options.enable_thinking = job.tokenizer().enable_thinking();
      options.device = job.model().device();
      options.dtype = DtypeName(job.model().dtype());
      options.max_batch_size = policy.max_batch_size();
      options.max_prompt_tokens = job.actor().sampling().max_prompt_tokens();
      options.max_response_tokens = job.actor().sampling().max_response_tokens();
      MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<LocalPolicy> local, LocalPolicy::Create(options));
      return std::unique_ptr<TextPolicy>(std::move(local));
    }
    case v1::PolicyConfig::OPENAI: {
      if (policy.base_url().empty()) {
        return absl::InvalidArgumentError(
            "an OPENAI policy needs actor.*.policy.base_url (e.g. http://127.0.0.1:8000/v1)");
      }
      if (policy.model().empty()) {
        return absl::InvalidArgumentError(
            "an OPENAI policy needs actor.*.policy.model (the served model name)");
      }
      MEMR1_ASSIGN_OR_RETURN(OpenAiPolicyOptions options, OpenAiPolicyOptions::FromConfig(policy));
      MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<OpenAiPolicy> served,
                             OpenAiPolicy::Create(std::move(options)));
      return std::unique_ptr<TextPolicy>(std::move(served));
    }
    case v1::PolicyConfig::TEACHER:
      return MakeTeacherPolicy(policy, job);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("actor.*.policy.backend must be LOCAL, OPENAI or TEACHER, got ",
                       v1::PolicyConfig::Backend_Name(policy.backend())));
  }
}

absl::StatusOr<PolicySet> PolicySet::FromJob(const v1::JobConfig& job, bool base_model_only) {
  struct Role {
    const char* key;
    v1::PolicyConfig config;
    TextPolicy** slot;
  };
  PolicySet set;
  Role roles[] = {
      {"actor.memory_manager.policy", job.actor().memory_manager().policy(), &set.manager_},
      {"actor.answer_agent.policy", job.actor().answer_agent().policy(), &set.answer_},
  };
  std::map<std::string, TextPolicy*> by_key;
  for (Role& role : roles) {
    if (base_model_only && role.config.backend() == v1::PolicyConfig::LOCAL) {
      role.config.clear_model_path();
    }
    const std::string key = SharingKey(role.config, job);
    if (auto it = by_key.find(key); it != by_key.end()) {
      *role.slot = it->second;
      continue;
    }
    absl::StatusOr<std::unique_ptr<TextPolicy>> policy = MakePolicy(role.config, job);
    if (!policy.ok()) return Annotate(policy.status(), role.key);
    *role.slot = policy->get();
    by_key.emplace(key, policy->get());
    set.owned_.push_back(*std::move(policy));
  }
  return set;
}

std::vector<TextPolicy*> PolicySet::distinct() const {
  std::vector<TextPolicy*> policies;
  for (const std::unique_ptr<TextPolicy>& policy : owned_) policies.push_back(policy.get());
  return policies;
}

}  // namespace memr1::actor
