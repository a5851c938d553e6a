#include "common/jsonl.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace memr1 {
namespace {

TEST(ForEachJsonLineTest, SkipsBlankLinesAndNamesTheFailingLine) {
  std::istringstream in("{\"a\": 1}\n\n  \t\r\n{\"a\": 2}\nbad\n{\"a\": 3}\n");
  std::vector<std::string> seen;
  const absl::Status status =
      ForEachJsonLine(in, "x.jsonl", [&](const std::string& line, const std::string& where) {
        seen.push_back(where);
        if (line == "bad") return absl::InvalidArgumentError("not JSON");
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "x.jsonl:5: not JSON");
  EXPECT_EQ(seen, (std::vector<std::string>{"x.jsonl:1", "x.jsonl:4", "x.jsonl:5"}));
}

TEST(ForEachJsonLineTest, DoesNotRepeatALocationTheVisitorAlreadyGave) {
  std::istringstream in("x\n");
  const absl::Status status =
      ForEachJsonLine(in, "f", [](const std::string&, const std::string& where) {
        return absl::InvalidArgumentError(where + ": field \"id\" is missing");
      });
  EXPECT_EQ(status.message(), "f:1: field \"id\" is missing");
}

}  // namespace
}  // namespace memr1
