#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1 {
namespace {

using ::testing::HasSubstr;

TEST(GrpcStatusTest, CodesAndMessagesRoundTrip) {
  for (const absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kUnauthenticated, absl::StatusCode::kUnavailable,
        absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kInternal}) {
    const absl::Status status(code, "what went wrong");
    const grpc::Status wire = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(wire.error_code()), static_cast<int>(code));
    EXPECT_EQ(wire.error_message(), "what went wrong");
    EXPECT_EQ(FromGrpcStatus(wire), status);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(TorchStatusTest, ShapeErrorBecomesStatusNamingTheOperation) {
  const auto result = TorchCall("matmul of q and k", [] {
    return torch::matmul(torch::ones({2, 3}), torch::ones({4, 5}));
  });
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("matmul of q and k: "));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("cannot be multiplied"));
  // The C++ backtrace stays out of the message.
  EXPECT_EQ(std::string(result.status().message()).find('\n'), std::string::npos);
}

TEST(TorchStatusTest, IndexErrorIsInvalidArgument) {
  const absl::Status status = TorchCall("select", [] { (void)torch::ones({2}).select(0, 5); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

TEST(TorchStatusTest, ValuesAndStatusesPassThrough) {
  const auto value = TorchCall("sum", [] { return torch::ones({3}).sum().item<float>(); });
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 3.0f);
  EXPECT_EQ(TorchCall("x", [] { return absl::NotFoundError("nf"); }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(TorchCall("x", [] { throw std::runtime_error("boom"); }).code(),
            absl::StatusCode::kInternal);
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  MEMR1_ASSIGN_OR_RETURN(const int half, Half(x));
  MEMR1_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x) {
  MEMR1_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_FALSE(CheckEven(3).ok());
  EXPECT_EQ(Annotate(absl::NotFoundError("x"), "loading a").message(), "loading a: x");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "ctx").ok());
}

}  // namespace
}  // namespace memr1
