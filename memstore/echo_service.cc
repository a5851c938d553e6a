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

}  // namespace memr1::memstore
