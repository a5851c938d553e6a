// PNG charts of metrics (eval/plot.h): the image reads back with cairo at the asked size, the
// line colour of a series is where its values put it, bands shade the spread, and bad input
// gives errors and warnings naming the file, line and key.

#include "eval/plot.h"

#include <cairo.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/files.h"

namespace memr1::eval {
namespace {

using ::memr1::testing::TempDir;
using ::testing::HasSubstr;

// A decoded PNG (ARGB32).
class Image {
 public:
  explicit Image(const std::string& path)
      : surface_(cairo_image_surface_create_from_png(path.c_str()), cairo_surface_destroy) {}

  bool ok() const { return cairo_surface_status(surface_.get()) == CAIRO_STATUS_SUCCESS; }
  int width() const { return cairo_image_surface_get_width(surface_.get()); }
  int height() const { return cairo_image_surface_get_height(surface_.get()); }

  // RGB of pixel (x, y) (opaque images: no premultiplication to undo).
  std::array<int, 3> At(int x, int y) const {
    const unsigned char* data = cairo_image_surface_get_data(surface_.get());
    const int stride = cairo_image_surface_get_stride(surface_.get());
    uint32_t pixel;
    std::memcpy(&pixel, data + y * stride + x * 4, 4);
    return {static_cast<int>((pixel >> 16) & 0xff), static_cast<int>((pixel >> 8) & 0xff),
            static_cast<int>(pixel & 0xff)};
  }

  bool Is(int x, int y, const std::array<uint8_t, 3>& rgb, int tolerance = 6) const {
    const std::array<int, 3> got = At(x, y);
    for (int c = 0; c < 3; ++c) {
      if (std::abs(got[c] - rgb[c]) > tolerance) return false;
    }
    return true;
  }

  // The longest horizontal run of `rgb` pixels in row y.
  int LongestRun(int y, const std::array<uint8_t, 3>& rgb) const {
    int best = 0;
    int run = 0;
    for (int x = 0; x < width(); ++x) {
      run = Is(x, y, rgb) ? run + 1 : 0;
      best = std::max(best, run);
    }
    return best;
  }

  // The first row (from the top) with a run of at least `length` `rgb` pixels; -1 if none.
  int RowWithRun(const std::array<uint8_t, 3>& rgb, int length) const {
    for (int y = 0; y < height(); ++y) {
      if (LongestRun(y, rgb) >= length) return y;
    }
    return -1;
  }

 private:
  std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t*)> surface_;
};

class PlotTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_.Sub(name);
    std::ofstream(path) << text;
    return path;
  }

  // Metrics lines {"step": s, key: value(s)} for s in [0, steps).
  std::string Constant(const std::string& name, const std::string& key, double value,
                       int steps = 11) {
    std::string text;
    for (int s = 0; s < steps; ++s) {
      absl::StrAppend(&text, "{\"step\":", s, ",\"", key, "\":", value, ",\"kl\":0.01}\n");
    }
    return Write(name, text);
  }

  TempDir dir_;
};

TEST_F(PlotTest, ReadsBackAtTheAskedSizeWithEachConstantSeriesAHorizontalLine) {
  PlotOptions options;
  options.metrics_files = {Constant("high.jsonl", "reward_mean", 0.75),
                           Constant("low.jsonl", "reward_mean", 0.25)};
  options.output = dir_.Sub("chart.png");
  options.width = 640;
  options.height = 400;
  absl::StatusOr<PlotResult> result = PlotMetrics(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->series, 2);
  EXPECT_EQ(result->points, 22);
  EXPECT_TRUE(result->warnings.empty());

  const Image image(options.output);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image.width(), 640);
  EXPECT_EQ(image.height(), 400);
  // Each series is a long horizontal run of its colour (the legend's swatch is 22 pixels).
  const int high = image.RowWithRun(SeriesColor(0), 200);
  const int low = image.RowWithRun(SeriesColor(1), 200);
  ASSERT_GE(high, 0);
  ASSERT_GE(low, 0);
  EXPECT_LT(high, low) << "0.75 is drawn above 0.25";
  // The y axis spans [0.2, 0.8] in 0.1 steps, so 0.75 and 0.25 lie 1/12 of the plot height
  // inside its top and bottom: the two lines are 5/6 of the plot height apart, and the rest
  // of the image (title, x axis) takes the remainder.
  EXPECT_GT(low - high, 400 / 2);
  EXPECT_LT(low - high, 400 - 60);
  // The background is white.
  EXPECT_TRUE(image.Is(2, 2, {255, 255, 255}, 0));
}

TEST_F(PlotTest, BandShadesTheSpreadAroundTheMean) {
  // reward_mean is 1, 2 and 3 in the three runs (a band from 1 to 3 around the mean 2); kl is
  // 0.01 in all of them, so the y axis reaches down to 0 and the band does not.
  PlotOptions options;
  options.metrics_files = {Constant("seed1.jsonl", "reward_mean", 1),
                           Constant("seed2.jsonl", "reward_mean", 2),
                           Constant("seed3.jsonl", "reward_mean", 3)};
  options.y_keys = {"reward_mean", "kl"};
  options.band = true;
  options.output = dir_.Sub("band.png");
  absl::StatusOr<PlotResult> result = PlotMetrics(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->series, 2);
  const Image image(options.output);
  ASSERT_TRUE(image.ok());
  const int mean = image.RowWithRun(SeriesColor(0), 300);
  const int kl = image.RowWithRun(SeriesColor(1), 300);
  ASSERT_GE(mean, 0);
  ASSERT_GT(kl, mean);
  int x = 0;
  while (x < image.width() && !image.Is(x, mean, SeriesColor(0))) ++x;
  x += 100;
  // Pixel rows of a value, from the two known lines (2 at `mean`, 0.01 at `kl`).
  const auto row = [&](double value) {
    return static_cast<int>(kl + (mean - kl) * (value - 0.01) / (2 - 0.01));
  };
  // Inside the band (2.5 and 1.5) the pixels are a tint of the line colour: neither white nor
  // the line colour, bluer than red.
  for (double value : {2.5, 1.5}) {
    const std::array<int, 3> tint = image.At(x, row(value));
    EXPECT_LT(tint[0], 250) << value;
    EXPECT_GT(tint[0], SeriesColor(0)[0] + 20) << value;
    EXPECT_GT(tint[2], tint[0]) << value;
  }
  // Below the band's minimum (1) the plot is background (or a grid line).
  const int below = row(0.6);
  EXPECT_TRUE(image.Is(x, below, {255, 255, 255}, 0) || image.Is(x, below, {229, 229, 229}, 2))
      << "pixel at 0.6 is " << image.At(x, below)[0] << "," << image.At(x, below)[1] << ","
      << image.At(x, below)[2];
}

TEST_F(PlotTest, SkipsNullAndMissingValuesWithWarningsNamingFileAndLines) {
  const std::string path = Write("gaps.jsonl",
                                 "{\"step\":0,\"reward_mean\":0.1}\n"
                                 "{\"step\":1,\"reward_mean\":null}\n"
                                 "\n"
                                 "{\"step\":2}\n"
                                 "{\"reward_mean\":0.3}\n"
                                 "{\"step\":3,\"reward_mean\":\"nan\"}\n"
                                 "{\"step\":4,\"reward_mean\":0.5}\n"
                                 "{\"step\":4,\"reward_mean\":0.6}\n");
  PlotOptions options;
  options.metrics_files = {path};
  options.output = dir_.Sub("gaps.png");
  absl::StatusOr<PlotResult> result = PlotMetrics(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->points, 2) << "steps 0 and 4 (its last line wins)";
  EXPECT_THAT(result->warnings,
              ::testing::UnorderedElementsAre(
                  absl::StrCat(path, ": line 5: \"step\" missing, null or not a number; skipped"),
                  absl::StrCat(path, ": lines 2, 6: \"reward_mean\" is null (NaN or infinite) or "
                                     "not a number; skipped")));
}

TEST_F(PlotTest, AKeyInNoFileIsAnErrorNamingIt) {
  PlotOptions options;
  options.metrics_files = {Constant("a.jsonl", "reward_mean", 1)};
  options.y_keys = {"reward_mean", "value_loss"};
  options.output = dir_.Sub("missing.png");
  absl::StatusOr<PlotResult> result = PlotMetrics(options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("key \"value_loss\" is in none of the metrics files"));
  EXPECT_FALSE(std::ifstream(options.output).good()) << "nothing is written on error";

  // A key only some files have is drawn from those, with a warning for the others.
  const std::string sft = Write("sft.jsonl", "{\"step\":0,\"sft/loss\":2.5}\n");
  options.metrics_files = {Constant("b.jsonl", "reward_mean", 1), sft};
  options.y_keys = {"reward_mean"};
  result = PlotMetrics(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->warnings, ::testing::ElementsAre(absl::StrCat(sft, ": no \"reward_mean\"")));
}

TEST_F(PlotTest, BadFilesAreErrorsNamingFileAndLine) {
  PlotOptions options;
  options.output = dir_.Sub("bad.png");
  options.metrics_files = {Write("bad.jsonl", "{\"step\":0,\"reward_mean\":1}\n{\"step\":1,\n")};
  absl::StatusOr<PlotResult> result = PlotMetrics(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr(absl::StrCat(options.metrics_files[0], ":2: not a JSON object")));

  options.metrics_files = {dir_.Sub("absent.jsonl")};
  result = PlotMetrics(options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("absent.jsonl"));

  options.metrics_files = {Constant("ok.jsonl", "reward_mean", 1)};
  options.labels = {"one", "two"};
  EXPECT_THAT(std::string(PlotMetrics(options).status().message()),
              HasSubstr("2 labels for 1 metrics files"));

  options.labels.clear();
  options.output = dir_.Sub("no-such-dir/chart.png");
  result = PlotMetrics(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("cannot write PNG"));
}

TEST_F(PlotTest, SeveralKeysOfOneFileAndALonePoint) {
  PlotOptions options;
  options.metrics_files = {Write("one.jsonl", "{\"step\":7,\"reward_mean\":0.5,\"kl\":0.1}\n")};
  options.y_keys = {"reward_mean", "kl"};
  options.output = dir_.Sub("one.png");
  absl::StatusOr<PlotResult> result = PlotMetrics(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->series, 2);
  const Image image(options.output);
  ASSERT_TRUE(image.ok());
  // A lone point is a dot of its colour: some pixels of each colour exist.
  for (int series = 0; series < 2; ++series) {
    int found = 0;
    for (int y = 0; y < image.height(); ++y) {
      for (int x = 0; x < image.width(); ++x) found += image.Is(x, y, SeriesColor(series)) ? 1 : 0;
    }
    EXPECT_GT(found, 20) << "series " << series;
  }
}

}  // namespace
}  // namespace memr1::eval
