#include "common/jsonl.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

TEST(ForEachJsonObjectTest, HandsOverObjectsAndRefusesAnythingElse) {
  for (const char* bad : {"[1, 2]", "{\"a\":", "7"}) {
    std::istringstream in(std::string("{\"a\": 1}\n\n") + bad + "\n{\"a\": 3}\n");
    std::vector<int> seen;
    const absl::Status status =
        ForEachJsonObject(in, "x.jsonl", [&](const nlohmann::json& object, const std::string&) {
          seen.push_back(object.at("a").get<int>());
          return absl::OkStatus();
        });
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(status.message(), "x.jsonl:3: not a JSON object") << bad;
    EXPECT_EQ(seen, (std::vector<int>{1})) << bad;
  }
}

}  // namespace
}  // namespace memr1
