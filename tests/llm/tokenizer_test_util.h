#pragma once

// Helpers shared by the tokenizer suites: where the npm reference packages live, running a
// reference script on JSON lines, and reading the test corpus.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace memr1::llm {
class Tokenizer;
}  // namespace memr1::llm

namespace memr1::llm::testing {

// <build>/npm, where the tokenizer_npm_setup fixture installs the reference packages.
std::string NpmPrefix();
// Model directories (tokenizer.json + tokenizer_config.json) of the reference packages.
std::string QwenModelDir();
std::string LlamaModelDir();
// tests/llm/tools/<name>.
std::string ToolPath(const std::string& name);
// tests/llm/<name>.
std::string TestDataPath(const std::string& name);

// Runs `command` with `input` on stdin; returns stdout split into JSON lines. Fails the
// current test (and returns {}) when the command exits non-zero.
std::vector<nlohmann::json> RunJsonLines(const std::string& command,
                                         const std::vector<nlohmann::json>& input);

// Runs tests/llm/tools/js_tokenizer.js in "requests" mode on `model_dir`.
std::vector<nlohmann::json> RunJsTokenizer(const std::string& model_dir,
                                           const std::vector<nlohmann::json>& requests);

// The tokenizer of `model_dir`, loaded once per test binary (fails the test on error).
const Tokenizer& CachedTokenizer(const std::string& model_dir);

// The "text" fields of a JSON-lines file.
std::vector<std::string> ReadCorpus(const std::string& path);

// A fresh empty directory under the test temp dir.
std::string MakeTempDir(const std::string& name);

}  // namespace memr1::llm::testing
