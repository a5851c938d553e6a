// `memr1 config print|validate`: the resolved job config, and whether a config is valid.

#include <iostream>
#include <memory>

#include "cli/command.h"
#include "common/config.h"
#include "common/status_macros.h"

namespace memr1::cli {

namespace {

void RegisterConfigCommands(CLI::App& app, CommandRunner& runner) {
  CLI::App* config = app.add_subcommand("config", "Inspect and check job configs");
  config->require_subcommand(1);

  auto print_flags = std::make_shared<ConfigFlags>();
  CLI::App* print = config->add_subcommand(
      "print", "Print the resolved config (file + --set overrides + defaults) as YAML");
  AddConfigFlags(print, print_flags.get());
  runner.Bind(print, [print_flags]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const v1::JobConfig job,
                           LoadJobConfig(print_flags->path, print_flags->overrides));
    std::cout << MessageToYaml(job);
    return absl::OkStatus();
  });

  auto validate_flags = std::make_shared<ConfigFlags>();
  CLI::App* validate = config->add_subcommand(
      "validate", "Check a config: unknown keys, types, ranges and cross-field rules");
  AddConfigFlags(validate, validate_flags.get());
  runner.Bind(validate, [validate_flags]() -> absl::Status {
    MEMR1_RETURN_IF_ERROR(
        LoadJobConfig(validate_flags->path, validate_flags->overrides).status());
    std::cout << validate_flags->path << ": valid\n";
    return absl::OkStatus();
  });
}

const CommandRegistration kRegistration(10, RegisterConfigCommands);

}  // namespace
}  // namespace memr1::cli
