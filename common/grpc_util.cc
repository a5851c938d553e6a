#include "common/grpc_util.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/net.h"
#include "common/status_macros.h"

namespace memr1 {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " '", path, "'"));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
bool SecureEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string FormatSeconds(absl::Duration duration) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(duration));
}

}  // namespace

absl::StatusOr<StartedGrpcServer> StartGrpcServer(const GrpcServerOptions& options) {
  MEMR1_ASSIGN_OR_RETURN(const HostPort host_port, ParseHostPort(options.address));
  if (options.services.empty()) {
    return absl::InvalidArgumentError("gRPC server: no service to register");
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (options.tls.enabled()) {
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    MEMR1_ASSIGN_OR_RETURN(pair.private_key,
                           ReadWholeFile(options.tls.key_file(), "TLS key file"));
    MEMR1_ASSIGN_OR_RETURN(pair.cert_chain,
                           ReadWholeFile(options.tls.cert_file(), "TLS certificate file"));
    ssl.pem_key_cert_pairs.push_back(pair);
    if (!options.tls.ca_file().empty()) {
      MEMR1_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                             ReadWholeFile(options.tls.ca_file(), "TLS CA file"));
      ssl.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(JoinHostPort(host_port.host, host_port.port), credentials,
                           &selected_port);
  // Without this, gRPC sets SO_REUSEPORT and a second server "binds" a port already in use.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  for (grpc::Service* service : options.services) builder.RegisterService(service);
  StartedGrpcServer started;
  started.server = builder.BuildAndStart();
  if (started.server == nullptr || selected_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("gRPC server: cannot listen on ", options.address));
  }
  started.port = selected_port;
  started.address = JoinHostPort(host_port.host, selected_port);
  return started;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ChannelOptions& options) {
  MEMR1_RETURN_IF_ERROR(ParseHostPort(address).status());
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.tls.enabled()) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls.ca_file().empty()) {
      MEMR1_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                             ReadWholeFile(options.tls.ca_file(), "TLS CA file"));
    }
    if (!options.tls.cert_file().empty()) {
      MEMR1_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                             ReadWholeFile(options.tls.cert_file(), "TLS certificate file"));
      MEMR1_ASSIGN_OR_RETURN(ssl.pem_private_key,
                             ReadWholeFile(options.tls.key_file(), "TLS key file"));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(options.max_message_bytes);
  arguments.SetMaxSendMessageSize(options.max_message_bytes);
  if (options.max_attempts > 1) {
    // gRPC's retry policy (gRFC A6): transparent retries of UNAVAILABLE with backoff.
    arguments.SetServiceConfigJSON(absl::StrFormat(
        R"({"methodConfig":[{"name":[{}],"retryPolicy":{"maxAttempts":%d,)"
        R"("initialBackoff":"%s","maxBackoff":"%s","backoffMultiplier":2,)"
        R"("retryableStatusCodes":["UNAVAILABLE"]}}]})",
        std::min(options.max_attempts, 5), FormatSeconds(options.initial_backoff),
        FormatSeconds(options.max_backoff)));
  }
  return grpc::CreateCustomChannel(address, credentials, arguments);
}

void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
}

void AttachJobToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata(kJobTokenMetadataKey, token);
}

absl::Status CheckJobToken(const grpc::ServerContext& context, const std::string& expected) {
  if (expected.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(kJobTokenMetadataKey);
  if (it == metadata.end()) {
    return absl::UnauthenticatedError("missing job token (metadata x-memr1-job-token)");
  }
  if (!SecureEquals(absl::string_view(it->second.data(), it->second.size()), expected)) {
    return absl::UnauthenticatedError("wrong job token");
  }
  return absl::OkStatus();
}

}  // namespace memr1
