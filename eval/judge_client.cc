#include "eval/judge_client.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace memr1::eval {
namespace {

constexpr char kSystemCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";

std::string Snippet(absl::string_view text) {
  constexpr size_t kMax = 200;
  if (text.size() <= kMax) return std::string(text);
  return absl::StrCat(text.substr(0, kMax), "...");
}

// Splits "http(s)://host[:port][/prefix]" into "scheme://host:port" and "/prefix".
absl::Status SplitUrl(absl::string_view url, std::string* scheme_host_port, std::string* path) {
  absl::string_view rest = url;
  std::string scheme;
  if (absl::ConsumePrefix(&rest, "http://")) {
    scheme = "http";
  } else if (absl::ConsumePrefix(&rest, "https://")) {
    scheme = "https";
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "judge base_url \"", url, "\" must start with http:// or https://"));
  }
  const size_t slash = rest.find('/');
  const absl::string_view authority = rest.substr(0, slash);
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("judge base_url \"", url, "\" has no host"));
  }
  *scheme_host_port = absl::StrCat(scheme, "://", authority);
  std::string prefix(slash == absl::string_view::npos ? "" : rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  *path = absl::StrCat(prefix, "/chat/completions");
  return absl::OkStatus();
}

// The label inside the message content: JSON first, then a bare word.
absl::StatusOr<bool> LabelFromContent(absl::string_view content) {
  absl::string_view text = absl::StripAsciiWhitespace(content);
  // Some servers wrap JSON in a markdown fence despite response_format.
  if (absl::ConsumePrefix(&text, "```")) {
    absl::ConsumePrefix(&text, "json");
    absl::ConsumeSuffix(&text, "```");
    text = absl::StripAsciiWhitespace(text);
  }
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.contains("label") && parsed["label"].is_string()) {
    const std::string label = absl::AsciiStrToUpper(
        absl::StripAsciiWhitespace(parsed["label"].get<std::string>()));
    if (label == "CORRECT") return true;
    if (label == "WRONG") return false;
    return absl::InvalidArgumentError(
        absl::StrCat("judge label \"", parsed["label"].get<std::string>(),
                     "\" is neither CORRECT nor WRONG"));
  }
  const bool has_correct = absl::StrContains(content, "CORRECT");
  const bool has_wrong = absl::StrContains(content, "WRONG");
  if (has_correct != has_wrong) return has_correct;
  return absl::InvalidArgumentError(absl::StrCat(
      "judge reply has no JSON \"label\" and no single CORRECT/WRONG word: \"", Snippet(content),
      "\""));
}

}  // namespace

absl::Status JudgeOptions::Validate() const {
  std::string scheme_host_port;
  std::string path;
  MEMR1_RETURN_IF_ERROR(SplitUrl(base_url, &scheme_host_port, &path));
  if (model.empty()) return absl::InvalidArgumentError("judge model is empty");
  if (repeats < 1) {
    return absl::InvalidArgumentError(absl::StrCat("judge repeats must be >= 1, got ", repeats));
  }
  if (max_retries < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("judge max_retries must be >= 0, got ", max_retries));
  }
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("judge timeout must be positive");
  }
  if (initial_backoff < absl::ZeroDuration() || max_backoff < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("judge back-off must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<JudgeOptions> JudgeOptions::FromConfig(const v1::JudgeConfig& config) {
  JudgeOptions options;
  options.base_url = config.base_url();
  options.model = config.model();
  if (!config.api_key_env().empty()) {
    if (const char* key = std::getenv(config.api_key_env().c_str())) options.api_key = key;
  }
  options.repeats = config.repeats();
  options.timeout = absl::Milliseconds(config.timeout_ms());
  options.max_retries = config.max_retries();
  options.initial_backoff = absl::Milliseconds(config.initial_backoff_ms());
  options.temperature = config.temperature();
  options.ca_file = config.ca_file();
  MEMR1_RETURN_IF_ERROR(options.Validate());
  return options;
}

JudgeClient::JudgeClient(JudgeOptions options, std::string scheme_host_port, std::string path)
    : options_(std::move(options)),
      scheme_host_port_(std::move(scheme_host_port)),
      path_(std::move(path)) {}

absl::StatusOr<std::unique_ptr<JudgeClient>> JudgeClient::Create(JudgeOptions options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  std::string scheme_host_port;
  std::string path;
  MEMR1_RETURN_IF_ERROR(SplitUrl(options.base_url, &scheme_host_port, &path));
  if (!options.ca_file.empty() && !std::ifstream(options.ca_file).good()) {
    return absl::NotFoundError(absl::StrCat("judge ca_file ", options.ca_file, " cannot be read"));
  }
  return std::unique_ptr<JudgeClient>(
      new JudgeClient(std::move(options), std::move(scheme_host_port), std::move(path)));
}

std::string JudgeClient::BuildPrompt(absl::string_view question, absl::string_view gold,
                                     absl::string_view prediction) {
  return absl::StrCat(
      "Label a generated answer to a question as CORRECT or WRONG by comparing it with the "
      "gold (ground-truth) answer.\n\n"
      "The question is one person asking about something the other person should remember "
      "from their earlier conversations. The gold answer is usually short. The generated "
      "answer may be longer or worded differently: be generous, and label it CORRECT as long "
      "as it refers to the same thing as the gold answer.\n\n"
      "For questions about time, the gold answer is a date, month, year or period. Label the "
      "generated answer CORRECT if it refers to the same date or period, even in another "
      "format (\"May 7th\" and \"7 May\") or as a relative expression that resolves to it.\n\n"
      "Question: ", question, "\n",
      "Gold answer: ", gold, "\n",
      "Generated answer: ", prediction, "\n\n",
      "Reply with only a JSON object whose key \"label\" is \"CORRECT\" or \"WRONG\", for "
      "example {\"label\": \"CORRECT\"}. Never use both words.");
}

absl::StatusOr<bool> JudgeClient::ParseResponse(absl::string_view body) {
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response body is not JSON: \"", Snippet(body), "\""));
  }
  if (!parsed.is_object() || !parsed.contains("choices") || !parsed["choices"].is_array() ||
      parsed["choices"].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response has no \"choices\": \"", Snippet(body), "\""));
  }
  const nlohmann::json& choice = parsed["choices"][0];
  if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object() ||
      !choice["message"].contains("content") || !choice["message"]["content"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "response has no choices[0].message.content string: \"", Snippet(body), "\""));
  }
  return LabelFromContent(choice["message"]["content"].get<std::string>());
}

absl::StatusOr<bool> JudgeClient::Attempt(const std::string& body, bool* retryable) const {
  *retryable = false;
  httplib::Client client(scheme_host_port_);
  const int64_t timeout_us = absl::ToInt64Microseconds(options_.timeout);
  const time_t seconds = static_cast<time_t>(timeout_us / 1000000);
  const time_t micros = static_cast<time_t>(timeout_us % 1000000);
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  client.set_keep_alive(false);
  if (absl::StartsWith(scheme_host_port_, "https://")) {
    const std::string ca = !options_.ca_file.empty() ? options_.ca_file
                           : std::ifstream(kSystemCaBundle).good() ? kSystemCaBundle
                                                                   : "";
    if (!ca.empty()) client.set_ca_cert_path(ca.c_str());
    client.enable_server_certificate_verification(true);
  }
  httplib::Headers headers;
  if (!options_.api_key.empty()) {
    headers.emplace("Authorization", absl::StrCat("Bearer ", options_.api_key));
  }
  const std::string where = absl::StrCat(scheme_host_port_, path_);
  const absl::Time start = absl::Now();
  httplib::Result result = client.Post(path_.c_str(), headers, body, "application/json");
  if (!result) {
    const httplib::Error error = result.error();
    *retryable = true;
    const bool timed_out = error == httplib::Error::ConnectionTimeout ||
                           ((error == httplib::Error::Read || error == httplib::Error::Write) &&
                            absl::Now() - start >= options_.timeout);
    if (timed_out) {
      return absl::DeadlineExceededError(absl::StrCat("judge request to ", where,
                                                      " timed out after ",
                                                      absl::FormatDuration(options_.timeout)));
    }
    return absl::UnavailableError(absl::StrCat("judge server ", where, " unreachable: ",
                                               httplib::to_string(error)));
  }
  const int status = result->status;
  if (status == 429 || status >= 500) {
    *retryable = true;
    return absl::UnavailableError(absl::StrCat("judge server ", where, " answered HTTP ", status,
                                               ": ", Snippet(result->body)));
  }
  if (status == 401) {
    return absl::UnauthenticatedError(absl::StrCat("judge server ", where,
                                                   " answered HTTP 401 (check the API key): ",
                                                   Snippet(result->body)));
  }
  if (status == 403) {
    return absl::PermissionDeniedError(absl::StrCat("judge server ", where, " answered HTTP 403: ",
                                                    Snippet(result->body)));
  }
  if (status < 200 || status >= 300) {
    return absl::InvalidArgumentError(absl::StrCat("judge server ", where, " answered HTTP ",
                                                   status, ": ", Snippet(result->body)));
  }
  absl::StatusOr<bool> label = ParseResponse(result->body);
  if (!label.ok()) {
    *retryable = true;
    return absl::InvalidArgumentError(absl::StrCat("judge server ", where,
                                                   " sent a malformed reply: ",
                                                   label.status().message()));
  }
  return label;
}

absl::StatusOr<bool> JudgeClient::JudgeOnce(absl::string_view question, absl::string_view gold,
                                            absl::string_view prediction) const {
  nlohmann::json request = {
      {"model", options_.model},
      {"messages", nlohmann::json::array({{{"role", "user"},
                                           {"content", BuildPrompt(question, gold, prediction)}}})},
      {"temperature", options_.temperature},
      {"response_format", {{"type", "json_object"}}},
  };
  const std::string body =
      request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  absl::Duration backoff = options_.initial_backoff;
  absl::Status last;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    bool retryable = false;
    absl::StatusOr<bool> label = Attempt(body, &retryable);
    if (label.ok()) return label;
    last = label.status();
    if (!retryable) return last;
  }
  return absl::Status(last.code(), absl::StrCat(last.message(), " (", options_.max_retries + 1,
                                                " attempts)"));
}

absl::StatusOr<JudgeVerdict> JudgeClient::Judge(absl::string_view question,
                                                absl::string_view gold,
                                                absl::string_view prediction) const {
  JudgeVerdict verdict;
  int correct = 0;
  for (int i = 0; i < options_.repeats; ++i) {
    MEMR1_ASSIGN_OR_RETURN(const bool label, JudgeOnce(question, gold, prediction));
    verdict.correct.push_back(label);
    correct += label ? 1 : 0;
  }
  verdict.score = static_cast<double>(correct) / static_cast<double>(options_.repeats);
  return verdict;
}

}  // namespace memr1::eval
