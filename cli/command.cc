#include "cli/command.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace memr1::cli {
namespace {

std::vector<std::pair<int, RegisterFunction>>& Registry() {
  static auto* registry = new std::vector<std::pair<int, RegisterFunction>>();
  return *registry;
}

}  // namespace

CommandRegistration::CommandRegistration(int order, RegisterFunction function) {
  Registry().emplace_back(order, function);
}

void RegisterAllCommands(CLI::App& app, CommandRunner& runner) {
  auto entries = Registry();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [order, function] : entries) function(app, runner);
}

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
