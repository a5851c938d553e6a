// `memr1 plot`: line charts of metrics JSON lines (learner metrics: reward, KL, loss over
// steps) as a PNG, one series per file and key, or the mean and min-max band of several runs.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "common/status_macros.h"
#include "eval/plot.h"

namespace memr1::cli {
namespace {

absl::Status RunPlot(const eval::PlotOptions& options) {
  MEMR1_ASSIGN_OR_RETURN(const eval::PlotResult result, eval::PlotMetrics(options));
  for (const std::string& warning : result.warnings) {
    std::cerr << "memr1 plot: warning: " << warning << "\n";
  }
  std::cout << "wrote " << options.output << " (" << result.series << " series, "
            << result.points << " points)\n";
  return absl::OkStatus();
}

void RegisterPlotCommand(CLI::App& app, CommandRunner& runner) {
  auto options = std::make_shared<eval::PlotOptions>();
  CLI::App* plot = app.add_subcommand(
      "plot",
      "Draw metrics JSON lines (e.g. <output_dir>/metrics/learner.jsonl) as a PNG line chart: "
      "one series per file and --y key, or with --band the mean and min-max of the files");
  plot->add_option("--metrics", options->metrics_files,
                   "A metrics file, one JSON object per line (repeatable: one per run)")
      ->required()
      ->check(CLI::ExistingFile);
  plot->add_option("--x", options->x_key, "Key of the x axis")->capture_default_str();
  plot->add_option("--y", options->y_keys,
                   "Key to draw (repeatable; e.g. reward_mean, kl, loss, sft/loss)")
      ->capture_default_str();
  plot->add_option("--out", options->output, "The PNG file to write")->required();
  plot->add_option("--title", options->title, "Chart title (default: the keys)");
  plot->add_option("--label", options->labels,
                   "Legend name of each --metrics file, in order (default: the file names)");
  plot->add_flag("--band", options->band,
                 "Per key, one line: the mean over the files, with their min-max range shaded");
  plot->add_option("--width", options->width, "Image width in pixels")
      ->capture_default_str()
      ->check(CLI::Range(200, 8000));
  plot->add_option("--height", options->height, "Image height in pixels")
      ->capture_default_str()
      ->check(CLI::Range(200, 8000));
  runner.Bind(plot, [options]() { return RunPlot(*options); });
}

const CommandRegistration kRegistration(52, RegisterPlotCommand);

}  // namespace
}  // namespace memr1::cli
