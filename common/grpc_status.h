#pragma once

// The one place where gRPC and Abseil statuses are converted. Both use the same canonical
// code numbers, so codes map one to one and messages are kept.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace memr1 {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace memr1
