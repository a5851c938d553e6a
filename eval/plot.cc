#include "eval/plot.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace memr1::eval {
namespace {

namespace fs = std::filesystem;

// Tableau's 10 categorical colours: distinct, and readable on white.
constexpr std::array<std::array<uint8_t, 3>, 10> kPalette = {{
    {31, 119, 180},
    {255, 127, 14},
    {44, 160, 44},
    {214, 39, 40},
    {148, 103, 189},
    {140, 86, 75},
    {227, 119, 194},
    {127, 127, 127},
    {188, 189, 34},
    {23, 190, 207},
}};

constexpr char kFont[] = "sans-serif";
constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------------------------------------
// Axes.

struct Axis {
  double lo = 0;
  double hi = 1;
  double step = 1;
  int decimals = 0;

  std::vector<double> Ticks() const {
    std::vector<double> ticks;
    const int count = static_cast<int>(std::llround((hi - lo) / step));
    for (int i = 0; i <= count; ++i) {
      double value = lo + i * step;
      if (std::fabs(value) < step * 1e-9) value = 0;  // never "-0"
      ticks.push_back(value);
    }
    return ticks;
  }
  std::string Label(double value) const {
    if (std::fabs(value) >= 1e7) return absl::StrFormat("%.3g", value);
    return absl::StrFormat("%.*f", decimals, value);
  }
};

// 1, 2 or 5 times a power of ten, near `raw`.
double NiceStep(double raw) {
  const double exponent = std::floor(std::log10(raw));
  const double base = std::pow(10.0, exponent);
  const double fraction = raw / base;
  const double nice = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10;
  return nice * base;
}

// An axis over [lo, hi] with about `target` intervals, its ends on ticks.
Axis MakeAxis(double lo, double hi, int target) {
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  Axis axis;
  axis.step = NiceStep((hi - lo) / target);
  axis.lo = std::floor(lo / axis.step + 1e-9) * axis.step;
  axis.hi = std::ceil(hi / axis.step - 1e-9) * axis.step;
  axis.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(axis.step) + 1e-9)));
  return axis;
}

// ---------------------------------------------------------------------------------------------
// Drawing.

struct CairoDeleter {
  void operator()(cairo_surface_t* surface) const { cairo_surface_destroy(surface); }
  void operator()(cairo_t* cr) const { cairo_destroy(cr); }
};

void SetColor(cairo_t* cr, const std::array<uint8_t, 3>& rgb, double alpha = 1.0) {
  cairo_set_source_rgba(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, alpha);
}

double TextWidth(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

void Font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

// A straight line from (x0, y0) to (x1, y1) in gray level `gray` (0 black, 1 white).
void Segment(cairo_t* cr, double gray, double x0, double y0, double x1, double y1) {
  cairo_set_source_rgb(cr, gray, gray, gray);
  cairo_move_to(cr, x0, y0);
  cairo_line_to(cr, x1, y1);
  cairo_stroke(cr);
}

// Draws `text` with its baseline at y, starting at x (align 0), centred on x (0.5) or ending
// at x (1).
void Text(cairo_t* cr, const std::string& text, double x, double y, double align) {
  cairo_move_to(cr, x - align * TextWidth(cr, text), y);
  cairo_show_text(cr, text.c_str());
}

absl::Status CheckChart(const Chart& chart) {
  if (chart.width < 200 || chart.width > 8000 || chart.height < 200 || chart.height > 8000) {
    return absl::InvalidArgumentError(absl::StrCat("the chart size must be within 200-8000 "
                                                   "pixels each way, got ",
                                                   chart.width, "x", chart.height));
  }
  if (chart.series.empty()) return absl::InvalidArgumentError("the chart has no series");
  for (const ChartSeries& series : chart.series) {
    const size_t n = series.x.size();
    if (n == 0 || series.y.size() != n || (!series.low.empty() && series.low.size() != n) ||
        (!series.high.empty() && series.high.size() != n) ||
        series.low.empty() != series.high.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "series \"", series.label, "\" needs as many y (and low/high) values as x values (",
          n, "), and at least one"));
    }
    for (const std::vector<double>* values : {&series.x, &series.y, &series.low, &series.high}) {
      for (double value : *values) {
        if (!std::isfinite(value)) {
          return absl::InvalidArgumentError(
              absl::StrCat("series \"", series.label, "\" has a non-finite value"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Metrics files.

// `key` in `line`: as written, else as a dotted path into nested objects.
const nlohmann::json* Lookup(const nlohmann::json& line, const std::string& key) {
  if (auto it = line.find(key); it != line.end()) return &*it;
  const nlohmann::json* node = &line;
  for (absl::string_view part : absl::StrSplit(key, '.')) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(std::string(part));
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node == &line ? nullptr : node;
}

std::optional<double> Number(const nlohmann::json* value) {
  if (value == nullptr || !value->is_number()) return std::nullopt;
  const double number = value->get<double>();
  if (!std::isfinite(number)) return std::nullopt;
  return number;
}

std::string LineList(const std::vector<int64_t>& lines) {
  constexpr size_t kShown = 5;
  std::vector<std::string> shown;
  for (size_t i = 0; i < lines.size() && i < kShown; ++i) shown.push_back(absl::StrCat(lines[i]));
  std::string out = absl::StrCat(lines.size() == 1 ? "line " : "lines ",
                                 absl::StrJoin(shown, ", "));
  if (lines.size() > kShown) absl::StrAppend(&out, " and ", lines.size() - kShown, " more");
  return out;
}

struct FileMetrics {
  // Per y key: x -> y (the last line of an x wins).
  std::vector<std::map<double, double>> points;
  std::vector<bool> has_key;
};

absl::StatusOr<FileMetrics> ReadMetricsFile(const std::string& path, const PlotOptions& options,
                                            std::vector<std::string>* warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open metrics file ", path));
  const size_t keys = options.y_keys.size();
  FileMetrics metrics;
  metrics.points.resize(keys);
  metrics.has_key.assign(keys, false);
  std::vector<int64_t> bad_x;
  std::vector<std::vector<int64_t>> bad_y(keys);
  std::string text;
  int64_t number = 0;
  int64_t lines = 0;
  while (std::getline(in, text)) {
    ++number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++lines;
    const nlohmann::json line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (line.is_discarded() || !line.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": not a JSON object: ",
          text.size() > 80 ? absl::StrCat(text.substr(0, 77), "...") : text));
    }
    const std::optional<double> x = Number(Lookup(line, options.x_key));
    for (size_t k = 0; k < keys; ++k) {
      const nlohmann::json* value = Lookup(line, options.y_keys[k]);
      if (value != nullptr) metrics.has_key[k] = true;
      if (!x) continue;
      const std::optional<double> y = Number(value);
      if (y) {
        metrics.points[k][*x] = *y;
      } else if (value != nullptr) {
        bad_y[k].push_back(number);  // present but null (NaN, inf) or not a number
      }
    }
    if (!x) bad_x.push_back(number);
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read metrics file ", path));
  if (lines == 0) warnings->push_back(absl::StrCat(path, ": no metrics lines"));
  if (!bad_x.empty()) {
    warnings->push_back(absl::StrCat(path, ": ", LineList(bad_x), ": \"", options.x_key,
                                     "\" missing, null or not a number; skipped"));
  }
  for (size_t k = 0; k < keys; ++k) {
    if (!bad_y[k].empty()) {
      warnings->push_back(absl::StrCat(path, ": ", LineList(bad_y[k]), ": \"", options.y_keys[k],
                                       "\" is null (NaN or infinite) or not a number; skipped"));
    }
  }
  return metrics;
}

// Labels telling the files apart: their names without extension, with parent directories
// added until they differ.
std::vector<std::string> DefaultLabels(const std::vector<std::string>& files) {
  std::vector<std::vector<std::string>> parts;
  size_t depth = 1;
  for (const std::string& file : files) {
    fs::path path(file);
    std::vector<std::string> names = {path.stem().string()};
    for (fs::path parent = path.parent_path(); !parent.empty() && parent.has_filename();
         parent = parent.parent_path()) {
      names.push_back(parent.filename().string());
    }
    depth = std::max(depth, names.size());
    parts.push_back(std::move(names));
  }
  std::vector<std::string> labels(files.size());
  for (size_t use = 1; use <= depth; ++use) {
    for (size_t i = 0; i < files.size(); ++i) {
      std::vector<std::string> shown;
      for (size_t j = std::min(use, parts[i].size()); j > 0; --j) shown.push_back(parts[i][j - 1]);
      labels[i] = absl::StrJoin(shown, "/");
    }
    if (std::set<std::string>(labels.begin(), labels.end()).size() == labels.size()) break;
  }
  return labels;
}

}  // namespace

std::array<uint8_t, 3> SeriesColor(int index) {
  return kPalette[static_cast<size_t>(index) % kPalette.size()];
}

absl::Status DrawChartPng(const Chart& chart, const std::string& path) {
  MEMR1_RETURN_IF_ERROR(CheckChart(chart));
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const ChartSeries& series : chart.series) {
    for (double x : series.x) x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
    for (const std::vector<double>* values : {&series.y, &series.low, &series.high}) {
      for (double y : *values) y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
  }
  const Axis x_axis = MakeAxis(x_lo, x_hi, 8);
  const Axis y_axis = MakeAxis(y_lo, y_hi, 6);

  std::unique_ptr<cairo_surface_t, CairoDeleter> surface(
      cairo_image_surface_create(CAIRO_FORMAT_ARGB32, chart.width, chart.height));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create a ", chart.width, "x", chart.height, " image: ",
                     cairo_status_to_string(cairo_surface_status(surface.get()))));
  }
  std::unique_ptr<cairo_t, CairoDeleter> context(cairo_create(surface.get()));
  cairo_t* cr = context.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  // Layout: title on top, y label and tick numbers on the left, x tick numbers and label at
  // the bottom, the legend on the right.
  Font(cr, 12);
  double legend_text = 0;
  for (const ChartSeries& series : chart.series) {
    legend_text = std::max(legend_text, TextWidth(cr, series.label));
  }
  const double legend_width = std::min(legend_text + 44, chart.width * 0.4);
  Font(cr, 11);
  double tick_width = 0;
  for (double tick : y_axis.Ticks()) {
    tick_width = std::max(tick_width, TextWidth(cr, y_axis.Label(tick)));
  }
  const double left = 12 + 16 + 8 + tick_width + 6;
  const double right = chart.width - legend_width - 12;
  const double top = chart.title.empty() ? 16 : 44;
  const double bottom = chart.height - 52;
  if (right - left < 40 || bottom - top < 40) {
    return absl::InvalidArgumentError(
        absl::StrCat("the chart is too small for its labels (", chart.width, "x", chart.height,
                     ")"));
  }
  const auto px = [&](double x) {
    return left + (x - x_axis.lo) / (x_axis.hi - x_axis.lo) * (right - left);
  };
  const auto py = [&](double y) {
    return bottom - (y - y_axis.lo) / (y_axis.hi - y_axis.lo) * (bottom - top);
  };

  // Grid, ticks and their numbers.
  cairo_set_line_width(cr, 1);
  Font(cr, 11);
  for (double tick : x_axis.Ticks()) {
    const double x = std::round(px(tick)) + 0.5;
    Segment(cr, 0.9, x, top, x, bottom);  // grid
    Segment(cr, 0, x, bottom, x, bottom + 5);  // tick
    Text(cr, x_axis.Label(tick), x, bottom + 18, 0.5);
  }
  for (double tick : y_axis.Ticks()) {
    const double y = std::round(py(tick)) + 0.5;
    Segment(cr, 0.9, left, y, right, y);  // grid
    Segment(cr, 0, left - 5, y, left, y);  // tick
    Text(cr, y_axis.Label(tick), left - 8, y + 4, 1);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, std::round(left) + 0.5, std::round(top) + 0.5,
                  std::round(right) - std::round(left), std::round(bottom) - std::round(top));
  cairo_stroke(cr);

  // Axis labels and the title.
  Font(cr, 12);
  Text(cr, chart.x_label, (left + right) / 2, chart.height - 14, 0.5);
  cairo_save(cr);
  cairo_translate(cr, 12 + 12, (top + bottom) / 2);
  cairo_rotate(cr, -kPi / 2);
  Text(cr, chart.y_label, 0, 0, 0.5);
  cairo_restore(cr);
  if (!chart.title.empty()) {
    Font(cr, 16, /*bold=*/true);
    Text(cr, chart.title, chart.width / 2.0, 28, 0.5);
  }

  // Series, clipped to the plot area: bands first, so every line stays on top.
  cairo_save(cr);
  cairo_rectangle(cr, left, top, right - left, bottom - top);
  cairo_clip(cr);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& series = chart.series[i];
    if (series.low.empty()) continue;
    SetColor(cr, SeriesColor(static_cast<int>(i)), 0.22);
    if (series.x.size() == 1) {
      cairo_rectangle(cr, px(series.x[0]) - 3, py(series.high[0]), 6,
                      py(series.low[0]) - py(series.high[0]));
    } else {
      cairo_move_to(cr, px(series.x[0]), py(series.high[0]));
      for (size_t j = 1; j < series.x.size(); ++j) cairo_line_to(cr, px(series.x[j]),
                                                                 py(series.high[j]));
      for (size_t j = series.x.size(); j > 0; --j) cairo_line_to(cr, px(series.x[j - 1]),
                                                                 py(series.low[j - 1]));
      cairo_close_path(cr);
    }
    cairo_fill(cr);
  }
  cairo_set_line_width(cr, 2);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& series = chart.series[i];
    SetColor(cr, SeriesColor(static_cast<int>(i)));
    if (series.x.size() == 1) {
      cairo_arc(cr, px(series.x[0]), py(series.y[0]), 3.5, 0, 2 * kPi);
      cairo_fill(cr);
      continue;
    }
    cairo_move_to(cr, px(series.x[0]), py(series.y[0]));
    for (size_t j = 1; j < series.x.size(); ++j) cairo_line_to(cr, px(series.x[j]),
                                                               py(series.y[j]));
    cairo_stroke(cr);
  }
  cairo_restore(cr);

  // Legend.
  Font(cr, 12);
  const double legend_x = right + 14;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& series = chart.series[i];
    const double y = top + 12 + 20.0 * static_cast<double>(i);
    const auto color = SeriesColor(static_cast<int>(i));
    if (!series.low.empty()) {
      SetColor(cr, color, 0.22);
      cairo_rectangle(cr, legend_x, y - 6, 22, 12);
      cairo_fill(cr);
    }
    SetColor(cr, color);
    cairo_set_line_width(cr, 2);
    cairo_move_to(cr, legend_x, y);
    cairo_line_to(cr, legend_x + 22, y);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_save(cr);
    cairo_rectangle(cr, legend_x + 28, y - 14, chart.width - legend_x - 28, 24);
    cairo_clip(cr);  // a label longer than the legend is cut, not drawn off the image
    Text(cr, series.label, legend_x + 28, y + 4, 0);
    cairo_restore(cr);
  }

  cairo_surface_flush(surface.get());
  const std::string temporary = absl::StrCat(path, ".tmp");
  const cairo_status_t written = cairo_surface_write_to_png(surface.get(), temporary.c_str());
  if (written != CAIRO_STATUS_SUCCESS) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write PNG ", path, ": ", cairo_status_to_string(written)));
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write PNG ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status PlotOptions::Validate() const {
  if (metrics_files.empty()) return absl::InvalidArgumentError("plot: no metrics file given");
  if (!labels.empty() && labels.size() != metrics_files.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("plot: ", labels.size(), " labels for ", metrics_files.size(),
                     " metrics files; give one label per file or none"));
  }
  if (y_keys.empty()) return absl::InvalidArgumentError("plot: no y key given");
  if (x_key.empty()) return absl::InvalidArgumentError("plot: the x key is empty");
  for (const std::string& key : y_keys) {
    if (key.empty()) return absl::InvalidArgumentError("plot: a y key is empty");
  }
  if (output.empty()) return absl::InvalidArgumentError("plot: no output file given");
  return absl::OkStatus();
}

absl::StatusOr<PlotResult> PlotMetrics(const PlotOptions& options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  PlotResult result;
  std::vector<FileMetrics> files;
  for (const std::string& path : options.metrics_files) {
    MEMR1_ASSIGN_OR_RETURN(FileMetrics metrics, ReadMetricsFile(path, options, &result.warnings));
    files.push_back(std::move(metrics));
  }
  for (size_t k = 0; k < options.y_keys.size(); ++k) {
    std::vector<std::string> without;
    for (size_t f = 0; f < files.size(); ++f) {
      if (!files[f].has_key[k]) without.push_back(options.metrics_files[f]);
    }
    if (without.size() == files.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "plot: key \"", options.y_keys[k], "\" is in none of the metrics files (",
          absl::StrJoin(options.metrics_files, ", "), ")"));
    }
    for (const std::string& path : without) {
      result.warnings.push_back(absl::StrCat(path, ": no \"", options.y_keys[k], "\""));
    }
  }
  const std::vector<std::string> labels =
      options.labels.empty() ? DefaultLabels(options.metrics_files) : options.labels;

  Chart chart;
  chart.width = options.width;
  chart.height = options.height;
  chart.x_label = options.x_key;
  chart.y_label = absl::StrJoin(options.y_keys, ", ");
  chart.title = options.title.empty()
                    ? absl::StrCat(chart.y_label, " by ", options.x_key,
                                   options.band ? absl::StrCat(" (mean and min-max of ",
                                                               files.size(), " runs)")
                                                : "")
                    : options.title;
  for (size_t k = 0; k < options.y_keys.size(); ++k) {
    const std::string& key = options.y_keys[k];
    if (options.band) {
      std::map<double, std::vector<double>> at;
      int runs = 0;
      for (const FileMetrics& file : files) {
        runs += file.points[k].empty() ? 0 : 1;
        for (const auto& [x, y] : file.points[k]) at[x].push_back(y);
      }
      if (at.empty()) continue;
      ChartSeries series;
      series.label = absl::StrCat(key, " (mean of ", runs, ", min-max)");
      for (const auto& [x, ys] : at) {
        double sum = 0;
        for (double y : ys) sum += y;
        series.x.push_back(x);
        series.y.push_back(sum / static_cast<double>(ys.size()));
        series.low.push_back(*std::min_element(ys.begin(), ys.end()));
        series.high.push_back(*std::max_element(ys.begin(), ys.end()));
      }
      result.points += static_cast<int64_t>(series.x.size());
      chart.series.push_back(std::move(series));
      continue;
    }
    for (size_t f = 0; f < files.size(); ++f) {
      if (files[f].points[k].empty()) continue;
      ChartSeries series;
      if (options.y_keys.size() == 1) {
        series.label = labels[f];
      } else if (files.size() == 1) {
        series.label = key;
      } else {
        series.label = absl::StrCat(labels[f], ": ", key);
      }
      for (const auto& [x, y] : files[f].points[k]) {
        series.x.push_back(x);
        series.y.push_back(y);
      }
      result.points += static_cast<int64_t>(series.x.size());
      chart.series.push_back(std::move(series));
    }
  }
  if (chart.series.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plot: no point to draw: no line of ", absl::StrJoin(options.metrics_files, ", "),
        " has a numeric \"", options.x_key, "\" together with a numeric ",
        absl::StrJoin(options.y_keys, " or ")));
  }
  result.series = static_cast<int>(chart.series.size());
  MEMR1_RETURN_IF_ERROR(DrawChartPng(chart, options.output));
  return result;
}

}  // namespace memr1::eval
