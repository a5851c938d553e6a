#pragma once

// Helpers for the dataset suites: temp files and the real LoCoMo file's path.

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace memr1::actor::testing {

inline std::string LocomoPath() { return MEMR1_SOURCE_DIR "/../shared/data/locomo/locomo10.json"; }

// Writes `text` to a fresh file under the test's temp dir and returns its path.
inline std::string WriteTempFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  return path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

}  // namespace memr1::actor::testing
