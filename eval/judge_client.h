#pragma once

// LLM-as-a-Judge over any OpenAI-compatible chat-completions server (OpenAI, vLLM, SGLang,
// llama.cpp, ...), over HTTP or HTTPS. The judge labels an answer CORRECT or WRONG against the
// gold answer and returns it as JSON {"label": ...}; the prompt is generous about wording,
// length and date formats in the way Mem0's LoCoMo judge is ("May 7th" = "7 May", a longer
// answer touching the same topic is correct). A question is judged `repeats` times and the
// labels averaged, as the Memory-R1 and Mem0 papers report.
//
// Failures: each request has a deadline (`timeout`); connection failures, timeouts, HTTP 429
// and 5xx, and malformed responses are retried up to `max_retries` times with exponential
// back-off (initial_backoff, doubled per retry, capped at max_backoff). Other HTTP errors
// (400, 401, 404, ...) fail at once. Errors name the server and say what went wrong:
// Unavailable when it cannot be reached, DeadlineExceeded on timeouts, Unauthenticated /
// PermissionDenied on 401 / 403, InvalidArgument for other 4xx and malformed replies.
//
// Thread safety: a JudgeClient is immutable; Judge() may be called from many threads at once
// (each call opens its own connection).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/http_json_client.h"
#include "memr1/v1/config.pb.h"

namespace memr1::eval {

struct JudgeOptions {
  // Base URL of the OpenAI-compatible API, e.g. "http://127.0.0.1:8000/v1" or
  // "https://api.openai.com/v1"; requests go to <base_url>/chat/completions.
  std::string base_url;
  std::string model;
  // Sent as "Authorization: Bearer <api_key>" when not empty.
  std::string api_key;
  int repeats = 1;
  absl::Duration timeout = absl::Seconds(60);
  int max_retries = 3;
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  double temperature = 0.0;
  // CA bundle for HTTPS; empty uses the system bundle.
  std::string ca_file;

  // InvalidArgument naming the field for a bad URL scheme, empty model, repeats < 1, ...
  absl::Status Validate() const;

  // From the job config: the API key is read from the environment variable the config names
  // (empty when unset; servers that need a key then answer 401).
  static absl::StatusOr<JudgeOptions> FromConfig(const v1::JudgeConfig& config);

  // The transport part of these options (role "judge").
  HttpJsonClientOptions HttpOptions() const;
};

struct JudgeVerdict {
  double score = 0;           // fraction of repeats labelled CORRECT
  std::vector<bool> correct;  // one label per repeat
};

class JudgeClient {
 public:
  static absl::StatusOr<std::unique_ptr<JudgeClient>> Create(JudgeOptions options);

  // Judges `prediction` against `gold` for `question`, `repeats` times. Blocks; at most
  // repeats * (max_retries + 1) requests, each bounded by `timeout`.
  absl::StatusOr<JudgeVerdict> Judge(absl::string_view question, absl::string_view gold,
                                     absl::string_view prediction) const;

  // One judgement (one request plus its retries): true for CORRECT.
  absl::StatusOr<bool> JudgeOnce(absl::string_view question, absl::string_view gold,
                                 absl::string_view prediction) const;

  // The user message sent to the judge.
  static std::string BuildPrompt(absl::string_view question, absl::string_view gold,
                                 absl::string_view prediction);

  // Extracts the label from a chat-completions response body. Accepts the JSON object the
  // prompt asks for ({"label": "CORRECT"}, also inside a ```json fence); failing that, a reply
  // that contains exactly one of the words CORRECT / WRONG. InvalidArgument otherwise.
  static absl::StatusOr<bool> ParseResponse(absl::string_view body);

  const JudgeOptions& options() const { return options_; }

 private:
  JudgeClient(JudgeOptions options, HttpJsonClient http);

  JudgeOptions options_;
  HttpJsonClient http_;  // POST, deadline, retries and error mapping
};

}  // namespace memr1::eval
