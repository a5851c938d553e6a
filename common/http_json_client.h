#pragma once

// HttpJsonClient: POSTs JSON bodies to an HTTP(S) API such as an OpenAI-compatible server (the
// LLM judge, a served policy), with a deadline per request, retries with exponential back-off,
// and errors that name the role and the server.
//
// Failures: each attempt is bounded by `timeout`; connection failures, timeouts, HTTP 429 and
// 5xx, and replies the caller's check rejects ("malformed") are retried up to `max_retries`
// times, sleeping initial_backoff, doubled per retry, capped at max_backoff. Other HTTP errors
// (400, 401, 404, ...) fail at once. Error codes: Unavailable when the server cannot be reached
// or answers 429/5xx, DeadlineExceeded on timeouts, Unauthenticated / PermissionDenied on
// 401 / 403, InvalidArgument for other 4xx and malformed replies. Messages start with the role
// ("judge server http://host:port/v1/chat/completions answered HTTP 503: ..."); after the last
// retry " (N attempts)" is appended.
//
// Thread safety: an HttpJsonClient is immutable; Post() may be called from many threads at once
// (each attempt opens its own connection).

#include <functional>
#include <utility>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace memr1 {

// "http(s)://host[:port][/prefix]" split into "scheme://host[:port]" and "/prefix" (no
// trailing slash; empty when the URL has no path).
struct HttpUrl {
  std::string scheme_host_port;
  std::string path_prefix;
  bool https() const;
};

// InvalidArgument naming `role` and the URL for a scheme other than http/https or no host,
// e.g. "judge base_url \"ftp://x\" must start with http:// or https://".
absl::StatusOr<HttpUrl> ParseHttpUrl(absl::string_view url, absl::string_view role);

struct HttpJsonClientOptions {
  // Names the peer in errors: "judge", "policy".
  std::string role = "http";
  // Base URL, e.g. "http://127.0.0.1:8000/v1"; Post's path is appended to it.
  std::string base_url;
  // Sent as "Authorization: Bearer <api_key>" when not empty.
  std::string api_key;
  absl::Duration timeout = absl::Seconds(60);
  int max_retries = 3;
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
  // CA bundle for https; empty uses the system bundle.
  std::string ca_file;

  // InvalidArgument naming the role and field (bad URL, max_retries < 0, timeout <= 0,
  // negative back-off). Does not touch the file system.
  absl::Status Validate() const;
};

// Accepts or rejects a 2xx reply body; a rejection is a malformed reply (retried) and its
// message is quoted in the error. Called once per 2xx reply, on the calling thread of Post.
using ReplyCheck = std::function<absl::Status(const std::string& body)>;

class HttpJsonClient {
 public:
  // Validates `options`; NotFound when ca_file is set and cannot be read.
  static absl::StatusOr<HttpJsonClient> Create(HttpJsonClientOptions options);

  // POSTs `json_body` (Content-Type application/json) to <base_url><path> (`path` starts with
  // '/', e.g. "/chat/completions") and returns the body of the first 2xx reply that `check`
  // accepts (a null check accepts any). Blocks: at most max_retries + 1 attempts, each bounded
  // by `timeout`, plus the back-off sleeps.
  absl::StatusOr<std::string> Post(absl::string_view path, const std::string& json_body,
                                   const ReplyCheck& check) const;

  // "scheme://host:port/prefix<path>", as errors name it.
  std::string Where(absl::string_view path) const;
  const HttpJsonClientOptions& options() const { return options_; }

 private:
  HttpJsonClient(HttpJsonClientOptions options, HttpUrl url)
      : options_(std::move(options)), url_(std::move(url)) {}

  // One attempt: the reply body, or an error and whether it is worth retrying.
  absl::StatusOr<std::string> Attempt(const std::string& full_path, const std::string& json_body,
                                      const ReplyCheck& check, bool* retryable) const;

  HttpJsonClientOptions options_;
  HttpUrl url_;
};

}  // namespace memr1
