#pragma once

// OpenAiPolicy: a TextPolicy over an OpenAI-compatible chat-completions server (vLLM, SGLang,
// llama.cpp's server, OpenAI), so the whole pipeline can run against a served model before
// anything is trained. Each request is one POST <base_url>/chat/completions with the model,
// messages, temperature, top_p, max_tokens, seed, n = 1, `logprobs` (when enabled) and top_k
// (only when > 0; vLLM and SGLang accept it, OpenAI does not).
//
// Completions carry the text (choices[0].message.content), `truncated` when finish_reason is
// "length", and one log-prob per generated token when the server returns
// choices[0].logprobs.content; never token ids, so they cannot become trajectories.
//
// Failures: each request has a deadline and is retried as common/http_json_client.h describes
// (connection failures, timeouts, 429/5xx and malformed replies; 401/403/other 4xx at once). A
// reply without a choices[0].message.content string is malformed. When any request still fails
// the whole Complete fails with that request's error (the lowest failing index), which names
// the request index and the server; requests not yet started are not sent.
//
// Thread safety: thread safe; Complete() may be called from several threads at once. Each call
// starts up to max_batch_size threads and joins them before it returns.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "actor/text_policy.h"
#include "common/http_json_client.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

struct OpenAiPolicyOptions {
  // e.g. "http://127.0.0.1:8000/v1"; requests go to <base_url>/chat/completions.
  std::string base_url;
  // The served model name.
  std::string model;
  // Sent as "Authorization: Bearer <api_key>" when not empty.
  std::string api_key;
  absl::Duration timeout = absl::Seconds(120);
  int max_retries = 3;
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  // CA bundle for https; empty uses the system bundle.
  std::string ca_file;
  // Requests in flight at once.
  int max_batch_size = 16;
  // Ask for per-token log-probs ("logprobs": true). Servers that reject the field can turn
  // it off.
  bool logprobs = true;
  // Reported by version(); a served model does not change under the policy.
  int64_t version = 0;

  // InvalidArgument naming the field (bad URL, empty model, max_batch_size < 1, ...).
  absl::Status Validate() const;

  // From a PolicyConfig (backend OPENAI): the API key is read from the environment variable
  // named by api_key_env (empty when unset; a server that needs a key then answers 401).
  static absl::StatusOr<OpenAiPolicyOptions> FromConfig(const v1::PolicyConfig& config);
};

class OpenAiPolicy : public TextPolicy {
 public:
  // Validates `options`; NotFound when ca_file cannot be read. Does not contact the server.
  static absl::StatusOr<std::unique_ptr<OpenAiPolicy>> Create(OpenAiPolicyOptions options);

  absl::StatusOr<std::vector<Completion>> Complete(
      absl::Span<const PolicyRequest> requests) override;
  // Unimplemented: the server's tokenizer is not known here.
  absl::StatusOr<int64_t> CountPromptTokens(
      absl::Span<const llm::ChatMessage> messages) const override;
  int64_t max_prompt_tokens() const override { return 0; }
  bool has_tokens() const override { return false; }
  int64_t version() const override { return options_.version; }
  // "openai:<base_url> model=<model>".
  std::string Describe() const override;

  // The JSON body sent for `request`.
  std::string RequestBody(const PolicyRequest& request) const;
  // Parses a chat-completions reply body into text, truncated and logprobs. InvalidArgument
  // saying what is missing (not JSON, no choices[0].message.content string, a log-prob entry
  // without a number).
  static absl::StatusOr<Completion> ParseReply(const std::string& body);

  const OpenAiPolicyOptions& options() const { return options_; }

 private:
  OpenAiPolicy(OpenAiPolicyOptions options, HttpJsonClient http)
      : options_(std::move(options)), http_(std::move(http)) {}

  // One request with its retries.
  absl::StatusOr<Completion> CompleteOne(const PolicyRequest& request) const;

  OpenAiPolicyOptions options_;
  HttpJsonClient http_;
};

}  // namespace memr1::actor
