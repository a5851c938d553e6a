// Speed of memr1's scorers and dataset readers, each as a ratio against a baseline measured in
// the same run:
//  1. ScoreAnswer (EM, F1, LoCoMo F1, BLEU-1) over LoCoMo's question/answer pairs, against the
//     Python reference scorers (tests/eval/tools/nltk_reference.py: NLTK + the restated LoCoMo
//     and Mem0 code) on the same pairs, interpreter start-up and imports subtracted;
//  2. StreamLongMemEval over a generated LongMemEval-shaped file, against nlohmann::json
//     parsing the whole file into memory (speed and peak memory, each in a child process).
//
// Usage: bench_eval_scoring [--megabytes N]   (size of the generated LongMemEval file, 64)

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "actor/locomo.h"
#include "actor/longmemeval.h"
#include "eval/metrics.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Pair {
  std::string prediction;
  std::string gold;
  int category;
};

std::vector<Pair> LocomoPairs() {
  auto dataset = memr1::actor::LoadLocomo(MEMR1_SOURCE_DIR "/../shared/data/locomo/locomo10.json");
  if (!dataset.ok()) {
    std::cerr << dataset.status() << "\n";
    std::exit(1);
  }
  std::vector<Pair> pairs;
  std::string previous = "unknown";
  for (const auto& conversation : dataset->conversations) {
    for (const auto& item : conversation.qa) {
      // A short answer-like prediction (the previous gold) and a long one (the question).
      pairs.push_back({previous, item.answer, item.category});
      pairs.push_back({item.question, item.answer, item.category});
      previous = item.answer;
    }
  }
  return pairs;
}

double RunPython(const std::string& request_path) {
  const std::string out = request_path + ".out";
  const std::string command = "/usr/bin/python3 " MEMR1_SOURCE_DIR
                              "/tests/eval/tools/nltk_reference.py " +
                              request_path + " " + out + " > /dev/null 2>&1";
  const Clock::time_point start = Clock::now();
  if (std::system(command.c_str()) != 0) {
    std::cerr << "python reference failed: " << command << "\n";
    std::exit(1);
  }
  return Seconds(start);
}

void BenchScoring() {
  const std::vector<Pair> pairs = LocomoPairs();
  // C++: repeat the whole set until at least 2 s have passed.
  double sink = 0;
  int rounds = 0;
  const Clock::time_point start = Clock::now();
  do {
    for (const Pair& pair : pairs) {
      const memr1::eval::AnswerScores scores =
          memr1::eval::ScoreAnswer(pair.prediction, pair.gold, pair.category);
      sink += scores.f1 + scores.bleu1 + scores.f1_locomo + scores.em;
    }
    ++rounds;
  } while (Seconds(start) < 2.0);
  const double ours = static_cast<double>(pairs.size()) * rounds / Seconds(start);

  // Python: the same pairs three times in one request, minus an empty request's time.
  nlohmann::json request = {{"pairs", nlohmann::json::array()}};
  for (int repeat = 0; repeat < 3; ++repeat) {
    for (const Pair& pair : pairs) {
      request["pairs"].push_back(
          {{"prediction", pair.prediction}, {"gold", pair.gold}, {"category", pair.category}});
    }
  }
  const std::string dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  const std::string full = dir + "/bench_eval_pairs.json";
  const std::string empty = dir + "/bench_eval_empty.json";
  std::ofstream(full) << request.dump();
  std::ofstream(empty) << "{}";
  RunPython(empty);  // warm the page cache
  const double startup = RunPython(empty);
  const double total = RunPython(full);
  const double python = static_cast<double>(3 * pairs.size()) / (total - startup);
  std::cout << absl::StrFormat(
      "| scoring (EM+F1+LoCoMo F1+BLEU-1), %d LoCoMo pairs | %.0f items/s | Python reference "
      "%.0f items/s | %.1fx |\n",
      pairs.size(), ours, python, ours / python);
  if (sink < 0) std::cout << sink;  // keep the loop
}

// A LongMemEval-shaped file of about `megabytes` MB.
std::string WriteLongMemEval(int megabytes) {
  const std::string path =
      std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/bench_lme.json";
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << "[";
  size_t written = 1;
  int instance = 0;
  const std::string sentence =
      "I went to the market on Saturday and bought fresh tomatoes, basil and a loaf of bread. ";
  while (written < static_cast<size_t>(megabytes) * 1000000) {
    nlohmann::json item = {{"question_id", "q" + std::to_string(instance)},
                           {"question_type", "multi-session"},
                           {"question", "What did I buy at the market?"},
                           {"answer", "tomatoes"},
                           {"question_date", "2023/05/30 (Tue) 22:10"},
                           {"haystack_session_ids", nlohmann::json::array()},
                           {"haystack_dates", nlohmann::json::array()},
                           {"haystack_sessions", nlohmann::json::array()},
                           {"answer_session_ids", {"s0"}}};
    for (int s = 0; s < 50; ++s) {
      item["haystack_session_ids"].push_back("s" + std::to_string(s));
      item["haystack_dates"].push_back("2023/05/20 (Sat) 10:00");
      nlohmann::json turns = nlohmann::json::array();
      for (int t = 0; t < 10; ++t) {
        turns.push_back({{"role", t % 2 ? "assistant" : "user"}, {"content", sentence + sentence}});
      }
      item["haystack_sessions"].push_back(turns);
    }
    const std::string text = (instance ? "," : "") + item.dump();
    file << text;
    written += text.size();
    ++instance;
  }
  file << "]";
  return path;
}

// Runs `work` in a child process; returns its wall time. The children's peak memory is read
// by the caller with RUSAGE_CHILDREN (the largest of all children so far).
template <typename Work>
double InChild(Work work) {
  const Clock::time_point start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) _exit(work() ? 0 : 1);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "benchmark child failed\n";
    std::exit(1);
  }
  return Seconds(start);
}

long ChildrenMaxRssMb() {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  return usage.ru_maxrss / 1024;
}

void BenchLongMemEval(int megabytes) {
  const std::string path = WriteLongMemEval(megabytes);
  std::ifstream probe(path, std::ios::binary | std::ios::ate);
  const double mb = static_cast<double>(probe.tellg()) / 1e6;
  // Streaming first: RUSAGE_CHILDREN then holds the streaming child's peak alone.
  const double stream_seconds = InChild([&] {
    int64_t turns = 0;
    const absl::Status status = memr1::actor::StreamLongMemEval(
        path, {}, [&](memr1::actor::Conversation&& conversation) {
          turns += conversation.TurnCount();
          return absl::OkStatus();
        });
    return status.ok() && turns > 0;
  });
  const long stream_peak = ChildrenMaxRssMb();
  const double dom_seconds = InChild([&] {
    std::ifstream file(path, std::ios::binary);
    const nlohmann::json whole = nlohmann::json::parse(file);
    return !whole.empty();
  });
  const long dom_peak = ChildrenMaxRssMb();
  std::cout << absl::StrFormat(
      "| LongMemEval stream (%.0f MB file) | %.1f MB/s, peak RSS %ld MB | whole-file parse "
      "%.1f MB/s, peak RSS %ld MB | %.2fx speed, %.1fx less memory |\n",
      mb, mb / stream_seconds, stream_peak, mb / dom_seconds, dom_peak,
      dom_seconds / stream_seconds,
      static_cast<double>(dom_peak) / static_cast<double>(std::max(stream_peak, 1L)));
  std::remove(path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  int megabytes = 64;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--megabytes") megabytes = std::atoi(argv[i + 1]);
  }
  std::cout << "| benchmark | memr1 | baseline | ratio |\n|---|---:|---:|---:|\n";
  // The streaming reader first, while the process's peak memory is still low.
  BenchLongMemEval(megabytes);
  BenchScoring();
  return 0;
}
