#include "common/jsonl.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace memr1 {

absl::Status ForEachJsonLine(
    std::istream& in, const std::string& source,
    const std::function<absl::Status(const std::string& line, const std::string& where)>& visit) {
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(source, ":", number);
    absl::Status status = visit(line, where);
    if (!status.ok()) {
      return absl::StartsWith(status.message(), where) ? status : Annotate(status, where);
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", source));
  return absl::OkStatus();
}

absl::Status ForEachJsonObject(
    std::istream& in, const std::string& source,
    const std::function<absl::Status(const nlohmann::json& object, const std::string& where)>&
        visit) {
  return ForEachJsonLine(in, source,
                         [&](const std::string& line, const std::string& where) -> absl::Status {
                           const nlohmann::json object =
                               nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
                           if (object.is_discarded() || !object.is_object()) {
                             return absl::InvalidArgumentError(
                                 absl::StrCat(where, ": not a JSON object"));
                           }
                           return visit(object, where);
                         });
}

}  // namespace memr1
