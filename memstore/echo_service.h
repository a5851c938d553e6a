#pragma once

// EchoService: the trivial Echo service of echo.proto, with the same job-token check as every
// memstore call, so that benchmarks compare memstore calls against an RPC with no work behind
// it, and EchoStream, the raw bidi-stream baseline of the transport benchmarks.
//
// Thread safety: thread safe (stateless).

#include <string>

#include "memr1/v1/echo.grpc.pb.h"

namespace memr1::memstore {

class EchoService final : public v1::Echo::Service {
 public:
  // `token`: the job token calls must carry (empty accepts all).
  explicit EchoService(std::string token) : token_(std::move(token)) {}
  grpc::Status Echo(grpc::ServerContext* context, const v1::EchoRequest* request,
                    v1::EchoReply* reply) override;
  // Replies to every request in order until the client half-closes or the call is cancelled.
  grpc::Status EchoStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::EchoReply, v1::EchoRequest>* stream) override;

 private:
  const std::string token_;
};

}  // namespace memr1::memstore
