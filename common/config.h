#pragma once

// Job configuration: YAML files read into the schema of proto/memr1/v1/config.proto.
//
// Rules, the same for every file and every `--set path=value` override:
//  - keys are field names; an unknown key, a wrong type (a mapping where a number belongs, "abc"
//    for an integer, an unknown enum name) or a value outside the field's (min)/(max) options
//    is an InvalidArgument error naming the source ("file:line:column" or "--set"), the key
//    path ("learner.actor_lr") and what was expected;
//  - anything not given takes the schema's default; repeated fields given replace the default;
//  - after loading, cross-field rules (ValidateJobConfig) are checked, so a config that loads
//    is a config every role can run.
//
// Thread safety: these are pure functions.

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "memr1/v1/config.pb.h"

namespace memr1 {

// Where each key path was given ("configs/a.yaml:12:3" or "--set learner.actor_lr=..."), so
// that later checks can point at the line that set a value.
using ConfigLocations = std::map<std::string, std::string>;

// Merges the YAML document `yaml_text` into `message`. `source` names it in errors (a file
// path). On error `message` may be partly merged: callers merge into a scratch copy.
absl::Status MergeYamlText(const std::string& yaml_text, const std::string& source,
                           google::protobuf::Message* message,
                           ConfigLocations* locations = nullptr);

// Applies one override "a.b.c=value" to `message`. The value is YAML: a scalar, or a flow
// sequence "[x, y]" for repeated fields; string fields take the text verbatim.
absl::Status ApplyOverride(const std::string& assignment, google::protobuf::Message* message,
                           ConfigLocations* locations = nullptr);

// Checks every numeric field, set or defaulted, against its (min)/(max) options and every
// (nonempty) string, recursively.
absl::Status CheckFieldOptions(const google::protobuf::Message& message,
                               const ConfigLocations& locations = {});

// Cross-field rules of a job (batch sizes divisible, GRPO group sizes, addresses parse, ...).
absl::Status ValidateJobConfig(const v1::JobConfig& config, const ConfigLocations& locations = {});

// Reads `path`, applies `overrides` in order, checks field options and job rules.
absl::StatusOr<v1::JobConfig> LoadJobConfig(const std::string& path,
                                            const std::vector<std::string>& overrides = {});
// The same for YAML text (tests, configs embedded in other files).
absl::StatusOr<v1::JobConfig> LoadJobConfigFromText(const std::string& yaml_text,
                                                    const std::string& source,
                                                    const std::vector<std::string>& overrides = {});

// The message as YAML with every field shown, defaults included (the "resolved config"). The
// text loads back into an equal message.
std::string MessageToYaml(const google::protobuf::Message& message);

}  // namespace memr1
