#include "memstore/echo_service.h"

#include "common/grpc_status.h"
#include "common/grpc_util.h"

namespace memr1::memstore {

grpc::Status EchoService::Echo(grpc::ServerContext* context, const v1::EchoRequest* request,
                               v1::EchoReply* reply) {
  const absl::Status status = CheckJobToken(*context, token_);
  if (!status.ok()) return ToGrpcStatus(status);
  reply->set_payload(request->payload());
  return grpc::Status::OK;
}

grpc::Status EchoService::EchoStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::EchoReply, v1::EchoRequest>* stream) {
  const absl::Status status = CheckJobToken(*context, token_);
  if (!status.ok()) return ToGrpcStatus(status);
  v1::EchoRequest request;
  v1::EchoReply reply;
  while (stream->Read(&request)) {
    if (request.ack_only()) {
      reply.clear_payload();
    } else {
      reply.set_payload(std::move(*request.mutable_payload()));
    }
    if (!stream->Write(reply)) break;  // the client went away
  }
  return context->IsCancelled() ? grpc::Status::CANCELLED : grpc::Status::OK;
}

}  // namespace memr1::memstore
