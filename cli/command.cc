#include "cli/command.h"

namespace memr1::cli {

void CommandRunner::Bind(CLI::App* command, CommandHandler handler) {
  command->callback([this, handler = std::move(handler)] { selected_ = handler; });
}

bool CommandRunner::RunSelected(absl::Status* status) {
  if (!selected_) return false;
  *status = selected_();
  return true;
}

void AddConfigFlags(CLI::App* command, ConfigFlags* flags) {
  command->add_option("--config", flags->path, "Job config (YAML), see configs/")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--set", flags->overrides,
                      "Override one field, e.g. --set learner.actor_lr=2e-6 (repeatable)")
      ->take_all();
}

}  // namespace memr1::cli
