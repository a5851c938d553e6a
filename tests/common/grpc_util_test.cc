#include "common/grpc_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/grpc_status.h"
#include "memr1/v1/echo.grpc.pb.h"

namespace memr1 {
namespace {

using ::testing::HasSubstr;

class TokenEcho final : public v1::Echo::Service {
 public:
  explicit TokenEcho(std::string token) : token_(std::move(token)) {}
  grpc::Status Echo(grpc::ServerContext* context, const v1::EchoRequest* request,
                    v1::EchoReply* reply) override {
    const absl::Status auth = CheckJobToken(*context, token_);
    if (!auth.ok()) return ToGrpcStatus(auth);
    reply->set_payload(request->payload());
    return grpc::Status::OK;
  }

 private:
  std::string token_;
};

absl::Status CallEcho(const std::string& address, const std::string& token,
                      std::string* payload) {
  auto channel = MakeChannel(address, ChannelOptions());
  if (!channel.ok()) return channel.status();
  auto stub = v1::Echo::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(5));
  AttachJobToken(&context, token);
  v1::EchoRequest request;
  request.set_payload(*payload);
  v1::EchoReply reply;
  const absl::Status status = FromGrpcStatus(stub->Echo(&context, request, &reply));
  *payload = reply.payload();
  return status;
}

TEST(GrpcUtilTest, ServerOnOsChosenPortAnswersWithTheJobToken) {
  TokenEcho service("secret");
  GrpcServerOptions options;
  options.services = {&service};
  auto server = StartGrpcServer(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT(server->port, 0);
  EXPECT_EQ(server->address, "127.0.0.1:" + std::to_string(server->port));

  std::string payload = "hello";
  ASSERT_TRUE(CallEcho(server->address, "secret", &payload).ok());
  EXPECT_EQ(payload, "hello");

  payload = "x";
  absl::Status status = CallEcho(server->address, "", &payload);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(status.message()), HasSubstr("missing job token"));
  status = CallEcho(server->address, "secreT", &payload);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(status.message()), HasSubstr("wrong job token"));
  server->server->Shutdown();
}

TEST(GrpcUtilTest, ServerWithoutServicesIsRefusedClearly) {
  const auto server = StartGrpcServer(GrpcServerOptions());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("no service"));
}

TEST(GrpcUtilTest, PortInUseIsUnavailable) {
  TokenEcho service("");
  GrpcServerOptions options;
  options.services = {&service};
  auto first = StartGrpcServer(options);
  ASSERT_TRUE(first.ok());
  TokenEcho other("");
  options.services = {&other};
  options.address = first->address;
  const auto second = StartGrpcServer(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  first->server->Shutdown();
}

TEST(GrpcUtilTest, MissingTlsFilesAreNamed) {
  TokenEcho service("");
  GrpcServerOptions options;
  options.services = {&service};
  options.tls.set_enabled(true);
  options.tls.set_cert_file("/nonexistent/cert.pem");
  options.tls.set_key_file("/nonexistent/key.pem");
  const auto server = StartGrpcServer(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("/nonexistent/key.pem"));
}

TEST(GrpcUtilTest, DeadlineBoundsACallToAnAbsentServer) {
  // Nothing listens on the port of a server that was just shut down.
  TokenEcho service("");
  GrpcServerOptions options;
  options.services = {&service};
  auto server = StartGrpcServer(options);
  ASSERT_TRUE(server.ok());
  const std::string address = server->address;
  server->server->Shutdown();
  server->server.reset();
  ChannelOptions channel_options;
  channel_options.max_attempts = 1;
  auto channel = MakeChannel(address, channel_options);
  ASSERT_TRUE(channel.ok());
  auto stub = v1::Echo::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(&context, absl::Milliseconds(300));
  context.set_wait_for_ready(true);
  v1::EchoReply reply;
  const grpc::Status status = stub->Echo(&context, v1::EchoRequest(), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST(GrpcUtilTest, MalformedAddressIsInvalidArgument) {
  EXPECT_EQ(MakeChannel("nohost", ChannelOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memr1
