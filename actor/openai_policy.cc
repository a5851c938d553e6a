#include "actor/openai_policy.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

constexpr char kRole[] = "policy";
constexpr char kChatPath[] = "/chat/completions";

std::string Snippet(const std::string& text) {
  constexpr size_t kMax = 200;
  if (text.size() <= kMax) return text;
  return absl::StrCat(text.substr(0, kMax), "...");
}

HttpJsonClientOptions HttpOptions(const OpenAiPolicyOptions& options) {
  HttpJsonClientOptions http;
  http.role = kRole;
  http.base_url = options.base_url;
  http.api_key = options.api_key;
  http.timeout = options.timeout;
  http.max_retries = options.max_retries;
  http.initial_backoff = options.initial_backoff;
  http.max_backoff = options.max_backoff;
  http.ca_file = options.ca_file;
  return http;
}

}  // namespace

absl::Status OpenAiPolicyOptions::Validate() const {
  MEMR1_RETURN_IF_ERROR(HttpOptions(*this).Validate());
  if (model.empty()) return absl::InvalidArgumentError("policy model is empty");
  if (max_batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy max_batch_size must be >= 1, got ", max_batch_size));
  }
  if (version < 0) {
    return absl::InvalidArgumentError(absl::StrCat("policy version must be >= 0, got ", version));
  }
  return absl::OkStatus();
}

absl::StatusOr<OpenAiPolicyOptions> OpenAiPolicyOptions::FromConfig(
    const v1::PolicyConfig& config) {
  OpenAiPolicyOptions options;
  options.base_url = config.base_url();
  options.model = config.model();
  if (!config.api_key_env().empty()) {
    if (const char* key = std::getenv(config.api_key_env().c_str())) options.api_key = key;
  }
  options.timeout = absl::Milliseconds(config.timeout_ms());
  options.max_retries = config.max_retries();
  options.initial_backoff = absl::Milliseconds(config.initial_backoff_ms());
  options.ca_file = config.ca_file();
  options.max_batch_size = config.max_batch_size();
  MEMR1_RETURN_IF_ERROR(options.Validate());
  return options;
}

absl::StatusOr<std::unique_ptr<OpenAiPolicy>> OpenAiPolicy::Create(OpenAiPolicyOptions options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  MEMR1_ASSIGN_OR_RETURN(HttpJsonClient http, HttpJsonClient::Create(HttpOptions(options)));
  return std::unique_ptr<OpenAiPolicy>(new OpenAiPolicy(std::move(options), std::move(http)));
}

std::string OpenAiPolicy::RequestBody(const PolicyRequest& request) const {
  nlohmann::json messages = nlohmann::json::array();
  for (const llm::ChatMessage& message : request.messages) {
    messages.push_back({{"role", message.role}, {"content", message.content}});
  }
  const SamplingOptions& sampling = request.sampling;
  nlohmann::json body = {
      {"model", options_.model},
      {"messages", std::move(messages)},
      {"temperature", sampling.temperature},
      {"top_p", sampling.top_p},
      {"max_tokens", sampling.max_tokens},
      {"seed", sampling.seed},
      {"n", 1},
  };
  if (options_.logprobs) body["logprobs"] = true;
  if (sampling.top_k > 0) body["top_k"] = sampling.top_k;
  // Invalid UTF-8 in a prompt (a dataset's stray byte) is replaced rather than thrown.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<Completion> OpenAiPolicy::ParseReply(const std::string& body) {
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response body is not JSON: \"", Snippet(body), "\""));
  }
  if (!parsed.is_object() || !parsed.contains("choices") || !parsed["choices"].is_array() ||
      parsed["choices"].empty() || !parsed["choices"][0].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response has no \"choices\": \"", Snippet(body), "\""));
  }
  const nlohmann::json& choice = parsed["choices"][0];
  if (!choice.contains("message") || !choice["message"].is_object() ||
      !choice["message"].contains("content") || !choice["message"]["content"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "response has no choices[0].message.content string: \"", Snippet(body), "\""));
  }
  Completion completion;
  completion.text = choice["message"]["content"].get<std::string>();
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
    completion.truncated = choice["finish_reason"].get<std::string>() == "length";
  }
  // Log-probs are optional (servers may ignore the request), but a list that is there must be
  // whole: a partial list would misalign tokens and log-probs.
  if (choice.contains("logprobs") && choice["logprobs"].is_object() &&
      choice["logprobs"].contains("content") && choice["logprobs"]["content"].is_array()) {
    const nlohmann::json& content = choice["logprobs"]["content"];
    completion.logprobs.reserve(content.size());
    for (size_t i = 0; i < content.size(); ++i) {
      if (!content[i].is_object() || !content[i].contains("logprob") ||
          !content[i]["logprob"].is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat("choices[0].logprobs.content[", i, "] has no numeric \"logprob\""));
      }
      completion.logprobs.push_back(content[i]["logprob"].get<float>());
    }
  }
  return completion;
}

absl::StatusOr<Completion> OpenAiPolicy::CompleteOne(const PolicyRequest& request) const {
  MEMR1_RETURN_IF_ERROR(request.sampling.Validate());
  Completion completion;
  // Parsing inside the check makes an unusable reply a malformed one, retried like a transport
  // failure.
  const ReplyCheck check = [&completion](const std::string& reply) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(completion, ParseReply(reply));
    return absl::OkStatus();
  };
  MEMR1_RETURN_IF_ERROR(http_.Post(kChatPath, RequestBody(request), check).status());
  return completion;
}

absl::StatusOr<std::vector<Completion>> OpenAiPolicy::Complete(
    absl::Span<const PolicyRequest> requests) {
  const size_t n = requests.size();
  // nullopt: not sent, because another request had already failed.
  std::vector<std::optional<absl::StatusOr<Completion>>> results(n);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  const auto work = [&]() {
    for (size_t i = next++; i < n && !failed.load(); i = next++) {
      results[i] = CompleteOne(requests[i]);
      if (!results[i]->ok()) failed.store(true);
    }
  };
  const size_t workers = std::min(n, static_cast<size_t>(options_.max_batch_size));
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (size_t t = 0; t < workers; ++t) threads.emplace_back(work);
    for (std::thread& thread : threads) thread.join();
  }
  for (size_t i = 0; i < n; ++i) {
    if (results[i].has_value() && !results[i]->ok()) {
      return Annotate(results[i]->status(), absl::StrCat(Describe(), ", request ", i));
    }
  }
  // No request failed, so every one was sent and answered.
  std::vector<Completion> completions;
  completions.reserve(n);
  for (size_t i = 0; i < n; ++i) completions.push_back(*std::move(*results[i]));
  return completions;
}

absl::StatusOr<int64_t> OpenAiPolicy::CountPromptTokens(
    absl::Span<const llm::ChatMessage> /*messages*/) const {
  return absl::UnimplementedError(
      absl::StrCat(Describe(), " cannot count prompt tokens (the server's tokenizer is remote)"));
}

std::string OpenAiPolicy::Describe() const {
  return absl::StrCat("openai:", options_.base_url, " model=", options_.model);
}

}  // namespace memr1::actor
