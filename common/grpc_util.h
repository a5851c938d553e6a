#pragma once

// Helpers every gRPC server and client of memr1 uses: starting a server on a port the OS
// picks, channels with retries and TLS, per-call deadlines, and the job token that keeps other
// jobs out.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "memr1/v1/config.pb.h"

namespace memr1 {

// gRPC metadata key carrying the job token on every call between roles.
inline constexpr char kJobTokenMetadataKey[] = "x-memr1-job-token";

struct GrpcServerOptions {
  // "127.0.0.1:0" lets the OS pick the port (see StartedGrpcServer::port).
  std::string address = "127.0.0.1:0";
  // Services to register; not owned, must outlive the server. At least one is required
  // (a gRPC server with no service refuses to start).
  std::vector<grpc::Service*> services;
  // TLS when enabled (cert_file and key_file; ca_file also requires client certificates).
  v1::TlsConfig tls;
  int max_message_bytes = 64 << 20;
};

struct StartedGrpcServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::string address;  // host:port with the bound port
};

// Builds and starts the server. Errors: InvalidArgument for a malformed address or no
// services, NotFound for unreadable TLS files, Unavailable when the address cannot be bound.
absl::StatusOr<StartedGrpcServer> StartGrpcServer(const GrpcServerOptions& options);

struct ChannelOptions {
  v1::TlsConfig tls;  // enabled: verify the server with ca_file (system roots when empty)
  // Transparent retries of UNAVAILABLE for idempotent calls (gRPC retry policy).
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  int max_message_bytes = 64 << 20;
};

// A channel to `address` with the retry policy above applied to every method.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ChannelOptions& options);

// Sets `context`'s deadline to now + `timeout`.
void SetDeadline(grpc::ClientContext* context, absl::Duration timeout);

// Adds the job token to an outgoing call.
void AttachJobToken(grpc::ClientContext* context, const std::string& token);

// Unauthenticated unless the call carries `expected` as its job token. An empty `expected`
// accepts every call (a job started without a token).
absl::Status CheckJobToken(const grpc::ServerContext& context, const std::string& expected);

}  // namespace memr1
