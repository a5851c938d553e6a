#pragma once

// Line charts of metrics as PNG images (cairo): the reward, KL and loss curves of training
// runs, one series per metrics file and key, or per key the mean of several runs (seeds) with
// their min–max spread shaded. `memr1 plot` is a thin wrapper; the quickstart calls
// PlotMetrics in process.
//
// Metrics files are JSON lines, one object per step, as the learner writes them
// (learner/trainer.h StepMetrics::ToJson: "step", "reward_mean", "kl", "loss", "sft/loss", ...).
// A key is looked up as written ("sft/loss") and, when absent, as a dotted path into nested
// objects ("eval.em"). Per file, lines whose x or y value is missing, null (how JSON writes NaN
// and infinities) or not a number are skipped with a warning naming the file and the lines;
// when several lines have the same x (a resumed run appends its steps again) the last one wins,
// and points are drawn in x order. A y key that no file has is an error naming it; a file that
// does not parse is an error naming the file and line.
//
// The chart: a title, x and y axes with "nice" ticks (1, 2 or 5 times a power of ten) and their
// numbers, light grid lines, one coloured line per series (SeriesColor(i) for series i; a lone
// point is drawn as a dot) and a legend on the right. With `band`, each y key gets one series:
// the mean over the files at each x (of the files that have a value there) as a line and the
// min–max range as a shaded band of the same colour.
//
// Thread safety: pure functions (cairo surfaces are local to a call).

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1::eval {

struct ChartSeries {
  std::string label;
  std::vector<double> x;  // ascending
  std::vector<double> y;
  // Band series only: the spread drawn shaded around the line (same length as x).
  std::vector<double> low;
  std::vector<double> high;
};

struct Chart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;
  int width = 900;
  int height = 540;
};

// The line colour of series `index` (RGB; a 10-colour palette, repeating).
std::array<uint8_t, 3> SeriesColor(int index);

// Draws `chart` into a PNG at `path` (written to a temporary file, then renamed). InvalidArgument
// for a size outside [200, 8000] pixels, no series, or non-finite values; the cairo error and
// the path when the file cannot be written.
absl::Status DrawChartPng(const Chart& chart, const std::string& path);

struct PlotOptions {
  std::vector<std::string> metrics_files;
  // One per file; empty: the files' names, with as many parent directories as tell them apart
  // ("seed1/learner", "seed2/learner").
  std::vector<std::string> labels;
  std::string x_key = "step";
  std::vector<std::string> y_keys = {"reward_mean"};
  std::string title;  // empty: the y keys over the x key
  bool band = false;
  std::string output;  // the PNG file
  int width = 900;
  int height = 540;

  // InvalidArgument naming the flag-level problem (no files, labels not one per file, no y
  // key, empty output).
  absl::Status Validate() const;
};

struct PlotResult {
  std::vector<std::string> warnings;  // skipped lines and files without a key
  int series = 0;
  int64_t points = 0;
};

// Reads the files and draws the chart (see the file comment).
absl::StatusOr<PlotResult> PlotMetrics(const PlotOptions& options);

}  // namespace memr1::eval
