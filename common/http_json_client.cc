#include "common/http_json_client.h"

#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace memr1 {
namespace {

constexpr char kSystemCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";

// Server replies are quoted in errors, but a whole HTML error page would drown the message.
std::string Snippet(absl::string_view text) {
  constexpr size_t kMax = 200;
  if (text.size() <= kMax) return std::string(text);
  return absl::StrCat(text.substr(0, kMax), "...");
}

}  // namespace

bool HttpUrl::https() const { return absl::StartsWith(scheme_host_port, "https://"); }

absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view role) {
  absl::string_view rest = url;
  std::string scheme;
  if (absl::ConsumePrefix(&rest, "http://")) {
    scheme = "http";
  } else if (absl::ConsumePrefix(&rest, "https://")) {
    scheme = "https";
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        role, " base_url \"", url, "\" must start with http:// or https://"));
  }
  const size_t slash = rest.find('/');
  const absl::string_view authority = rest.substr(0, slash);
  if (authority.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(role, " base_url \"", url, "\" has no host"));
  }
  HttpUrl parsed;
  parsed.scheme_host_port = absl::StrCat(scheme, "://", authority);
  parsed.path_prefix = std::string(slash == absl::string_view::npos ? "" : rest.substr(slash));
  while (!parsed.path_prefix.empty() && parsed.path_prefix.back() == '/') {
    parsed.path_prefix.pop_back();
  }
  return parsed;
}

absl::Status HttpJsonClientOptions::Validate() const {
  absl::StatusOr<HttpUrl> url = ParseHttpUrl(base_url, role);
  if (!url.ok()) return url.status();
  if (max_retries < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(role, " max_retries must be >= 0, got ", max_retries));
  }
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(role, " timeout must be positive"));
  }
  if (initial_backoff < absl::ZeroDuration() || max_backoff < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(role, " back-off must not be negative"));
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpJsonClient> HttpJsonClient::Create(HttpJsonClientOptions options) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  absl::StatusOr<HttpUrl> url = ParseHttpUrl(options.base_url, options.role);
  if (!url.ok()) return url.status();
  if (!options.ca_file.empty() && !std::ifstream(options.ca_file).good()) {
    return absl::NotFoundError(
        absl::StrCat(options.role, " ca_file ", options.ca_file, " cannot be read"));
  }
  return HttpJsonClient(std::move(options), *std::move(url));
}

std::string HttpJsonClient::Where(absl::string_view path) const {
  return absl::StrCat(url_.scheme_host_port, url_.path_prefix, path);
}

absl::StatusOr<std::string> HttpJsonClient::Attempt(const std::string& full_path,
                                                    const std::string& json_body,
                                                    const ReplyCheck& check,
                                                    bool* retryable) const {
  *retryable = false;
  const std::string& role = options_.role;
  httplib::Client client(url_.scheme_host_port);
  const int64_t timeout_us = absl::ToInt64Microseconds(options_.timeout);
  const time_t seconds = static_cast<time_t>(timeout_us / 1000000);
  const time_t micros = static_cast<time_t>(timeout_us % 1000000);
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  client.set_keep_alive(false);
  if (url_.https()) {
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
  const std::string where = absl::StrCat(url_.scheme_host_port, full_path);
  const absl::Time start = absl::Now();
  httplib::Result result = client.Post(full_path.c_str(), headers, json_body, "application/json");
  if (!result) {
    const httplib::Error error = result.error();
    *retryable = true;
    // httplib reports a read timeout as a read error; the elapsed time tells them apart.
    const bool timed_out = error == httplib::Error::ConnectionTimeout ||
                           ((error == httplib::Error::Read || error == httplib::Error::Write) &&
                            absl::Now() - start >= options_.timeout);
    if (timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(role, " request to ", where,
                                                      " timed out after ",
                                                      absl::FormatDuration(options_.timeout)));
    }
    return absl::UnavailableError(absl::StrCat(role, " server ", where, " unreachable: ",
                                               httplib::to_string(error)));
  }
  const int status = result->status;
  if (status == 429 || status >= 500) {
    *retryable = true;
    return absl::UnavailableError(absl::StrCat(role, " server ", where, " answered HTTP ", status,
                                               ": ", Snippet(result->body)));
  }
  if (status == 401) {
    return absl::UnauthenticatedError(absl::StrCat(role, " server ", where,
                                                   " answered HTTP 401 (check the API key): ",
                                                   Snippet(result->body)));
  }
  if (status == 403) {
    return absl::PermissionDeniedError(absl::StrCat(role, " server ", where,
                                                    " answered HTTP 403: ",
                                                    Snippet(result->body)));
  }
  if (status < 200 || status >= 300) {
    return absl::InvalidArgumentError(absl::StrCat(role, " server ", where, " answered HTTP ",
                                                   status, ": ", Snippet(result->body)));
  }
  if (check) {
    const absl::Status accepted = check(result->body);
    if (!accepted.ok()) {
      *retryable = true;
      return absl::InvalidArgumentError(absl::StrCat(role, " server ", where,
                                                     " sent a malformed reply: ",
                                                     accepted.message()));
    }
  }
  return std::move(result->body);
}

absl::StatusOr<std::string> HttpJsonClient::Post(absl::string_view path,
                                                 const std::string& json_body,
                                                 const ReplyCheck& check) const {
  const std::string full_path = absl::StrCat(url_.path_prefix, path);
  absl::Duration backoff = options_.initial_backoff;
  absl::Status last;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    bool retryable = false;
    absl::StatusOr<std::string> body = Attempt(full_path, json_body, check, &retryable);
    if (body.ok()) return body;
    last = body.status();
    if (!retryable) return last;
  }
  return absl::Status(last.code(), absl::StrCat(last.message(), " (", options_.max_retries + 1,
                                                " attempts)"));
}

}  // namespace memr1
