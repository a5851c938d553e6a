// safetensors I/O, config.json parsing, RoPE frequencies, and checkpoint save/load.

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "llm/checkpoint_io.h"
#include "llm/model_config.h"
#include "llm/rope.h"
#include "llm/safetensors.h"
#include "tests/llm/model_testing.h"

namespace memr1::llm {
namespace {

using ::memr1::llm::testing::ReadFile;
using ::memr1::llm::testing::TempDir;
using ::memr1::llm::testing::TinyConfig;
using ::memr1::llm::testing::TinyModel;
using ::memr1::llm::testing::WriteFile;
using ::testing::HasSubstr;

// A file with the given raw header and `data_bytes` zero bytes of data.
std::string RawFile(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + std::string(data_bytes, '\0');
}

TEST(SafetensorsTest, RoundTripKeepsEveryDtypeAndValue) {
  TempDir dir;
  at::Tensor f32 = at::randn({3, 5});
  at::Tensor bf16 = at::randn({7}).to(at::kBFloat16);
  at::Tensor f16 = at::randn({2, 2, 3}).to(at::kHalf);
  at::Tensor i64 = at::arange(5, at::kLong);
  at::Tensor empty = at::zeros({0, 4});
  const std::string path = dir.Sub("a.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"f32", f32}, {"bf16", bf16}, {"f16", f16}, {"i64", i64},
                                      {"empty", empty}})
                  .ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT((*file)->names(), ::testing::ElementsAre("f32", "bf16", "f16", "i64", "empty"));
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  for (const auto& [name, expected] :
       std::vector<std::pair<std::string, at::Tensor>>{{"f32", f32}, {"bf16", bf16}, {"f16", f16},
                                                       {"i64", i64}, {"empty", empty}}) {
    auto loaded = (*file)->LoadAsStored(name, at::kCPU);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->scalar_type(), expected.scalar_type()) << name;
    EXPECT_TRUE(at::equal(*loaded, expected)) << name;
  }
  // The header (8-byte length + JSON) is padded so that data starts 8-byte aligned.
  const std::string bytes = ReadFile(path);
  EXPECT_EQ((bytes.size() - (3 * 5 * 4 + 7 * 2 + 12 * 2 + 5 * 8)) % 8, 0u);
}

TEST(SafetensorsTest, ConvertsStoredDtypeToComputeDtype) {
  TempDir dir;
  at::Tensor values = at::randn({4, 4}).to(at::kBFloat16);
  ASSERT_TRUE(WriteSafetensors(dir.Sub("b.safetensors"), {{"w", values}}).ok());
  auto file = SafetensorsFile::Open(dir.Sub("b.safetensors"));
  ASSERT_TRUE(file.ok());
  auto loaded = (*file)->Load("w", at::kCPU, at::kFloat);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(*loaded, values.to(at::kFloat)));
}

TEST(SafetensorsTest, TruncatedFileIsRejectedNamingFileAndTensor) {
  TempDir dir;
  const std::string path = dir.Sub("t.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"first", at::ones({4})}, {"second", at::ones({64})}}).ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("\"second\""));
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("truncated"));

  WriteFile(path, std::string("\x10\x00\x00", 3));
  EXPECT_FALSE(SafetensorsFile::Open(path).ok());
  WriteFile(path, RawFile("{}", 0).substr(0, 9));  // header length says 2, one byte present
  auto short_header = SafetensorsFile::Open(path);
  ASSERT_FALSE(short_header.ok());
  EXPECT_THAT(std::string(short_header.status().message()), HasSubstr("past the end"));
}

TEST(SafetensorsTest, CorruptHeadersAreRejected) {
  TempDir dir;
  const std::string path = dir.Sub("c.safetensors");
  struct Case {
    std::string header;
    size_t data;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       12, "overlaps"},
      {R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8, "unsupported dtype"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "needs 12"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8, "reversed"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "shape"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", 8, "data_offsets"},
      {R"({"a":)", 8, "not a JSON object"},
      {R"([1,2])", 0, "not a JSON object"},
  };
  for (const Case& c : cases) {
    WriteFile(path, RawFile(c.header, c.data));
    auto file = SafetensorsFile::Open(path);
    ASSERT_FALSE(file.ok()) << c.header;
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(c.expect)) << c.header;
    EXPECT_THAT(std::string(file.status().message()), HasSubstr(path));
  }
}

TEST(ModelConfigTest, ParsesEachFamilyAndRoundTrips) {
  for (Architecture arch : {Architecture::kQwen2, Architecture::kQwen3, Architecture::kLlama}) {
    const ModelConfig config = TinyConfig(arch);
    auto again = ParseModelConfig(ModelConfigToJson(config), "round trip");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(ModelConfigToJson(*again), ModelConfigToJson(config));
    EXPECT_EQ(again->attention_bias, arch == Architecture::kQwen2);
    EXPECT_EQ(again->qk_norm, arch == Architecture::kQwen3);
  }
  EXPECT_EQ(TinyConfig(Architecture::kQwen3).head_dim, 12);
  EXPECT_EQ(TinyConfig(Architecture::kQwen2).head_dim, 8);
  EXPECT_TRUE(TinyConfig(Architecture::kLlama).rope_scaling.has_value());
}

TEST(ModelConfigTest, UnsupportedFeaturesAreErrorsThatSayWhat) {
  const std::string base =
      R"("vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
         "num_attention_heads": 2)";
  struct Case {
    std::string json;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"{\"architectures\": [\"MistralForCausalLM\"], " + base + "}", "MistralForCausalLM"},
      {"{\"architectures\": [\"Qwen2ForCausalLM\"], \"use_sliding_window\": true, " + base + "}",
       "use_sliding_window"},
      {"{\"architectures\": [\"LlamaForCausalLM\"], \"rope_scaling\": {\"type\": \"yarn\", "
       "\"factor\": 2.0}, " + base + "}",
       "yarn"},
      {"{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_act\": \"gelu\", " + base + "}",
       "hidden_act"},
      {"{\"architectures\": [\"LlamaForCausalLM\"], \"mystery\": 1, " + base + "}", "mystery"},
      {"{\"architectures\": [\"LlamaForCausalLM\"], \"num_key_value_heads\": 3, " + base + "}",
       "num_key_value_heads"},
      {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10}", "hidden_size"},
  };
  for (const Case& c : cases) {
    auto config = ParseModelConfig(c.json, "cfg.json");
    ASSERT_FALSE(config.ok()) << c.json;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.expect));
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("cfg.json"));
  }
}

TEST(RopeTest, Llama3ScalingMatchesHandComputedFrequencies) {
  // head_dim 6 gives three frequencies 1, theta^(-1/3), theta^(-2/3). theta is chosen so the
  // second has wavelength exactly 4000 (between 8192/4 and 8192/1: interpolated) and the third
  // a wavelength of 2.5e6 (> 8192: divided by the factor); the first (wavelength 2*pi) is kept.
  ModelConfig config = TinyConfig(Architecture::kLlama);
  config.head_dim = 6;
  config.rope_theta = std::pow(2 * M_PI / 4000.0, -3.0);
  config.rope_scaling = Llama3RopeScaling{8.0, 1.0, 4.0, 8192};
  const std::vector<double> inv = RopeInverseFrequencies(config);
  ASSERT_EQ(inv.size(), 3u);
  const double f1 = 2 * M_PI / 4000.0;
  // smooth = (8192 / 4000 - 1) / (4 - 1) = 0.349333...; f = (1 - smooth) * f / 8 + smooth * f.
  const double smooth = 1.048 / 3.0;
  EXPECT_DOUBLE_EQ(inv[0], 1.0);
  EXPECT_NEAR(inv[1], (1 - smooth) * f1 / 8 + smooth * f1, 1e-15);
  EXPECT_NEAR(inv[1], 0.0006764896180730029, 1e-15);
  EXPECT_NEAR(inv[2], f1 * f1 / 8, 1e-18);

  config.rope_scaling.reset();
  const std::vector<double> plain = RopeInverseFrequencies(config);
  EXPECT_NEAR(plain[1], f1, 1e-15);
  EXPECT_NEAR(plain[2], f1 * f1, 1e-18);
}

TEST(CheckpointTest, F32SaveLoadSaveIsByteIdentical) {
  for (Architecture arch : {Architecture::kQwen2, Architecture::kQwen3, Architecture::kLlama}) {
    TempDir dir;
    auto model = TinyModel(arch);
    ASSERT_TRUE(SaveCausalLM(*model, dir.Sub("a")).ok());
    auto loaded = LoadCausalLM(dir.Sub("a"), at::kCPU, at::kFloat);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    for (const auto& [name, param] : model->NamedParameters()) {
      bool found = false;
      for (const auto& [other_name, other] : (*loaded)->NamedParameters()) {
        if (other_name == name) {
          found = true;
          EXPECT_TRUE(at::equal(param, other)) << name;
        }
      }
      EXPECT_TRUE(found) << name;
    }
    ASSERT_TRUE(SaveCausalLM(**loaded, dir.Sub("b")).ok());
    EXPECT_EQ(ReadFile(dir.Sub("a/model.safetensors")), ReadFile(dir.Sub("b/model.safetensors")));
    EXPECT_EQ(ReadFile(dir.Sub("a/config.json")), ReadFile(dir.Sub("b/config.json")));
    // Tied embeddings are saved once, as transformers does.
    auto file = SafetensorsFile::Open(dir.Sub("a/model.safetensors"));
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->Contains("lm_head.weight"), arch != Architecture::kQwen3);
    EXPECT_TRUE((*file)->Contains("model.layers.1.mlp.down_proj.weight"));
    EXPECT_EQ((*file)->Contains("model.layers.0.self_attn.q_proj.bias"), arch == Architecture::kQwen2);
    EXPECT_EQ((*file)->Contains("model.layers.0.self_attn.q_norm.weight"), arch == Architecture::kQwen3);
  }
}

TEST(CheckpointTest, ShardedCheckpointEqualsSingleFile) {
  TempDir dir;
  auto model = TinyModel(Architecture::kQwen2);
  SaveOptions sharded;
  sharded.max_shard_bytes = 20000;
  ASSERT_TRUE(SaveCausalLM(*model, dir.Sub("sharded"), sharded).ok());
  ASSERT_TRUE(SaveCausalLM(*model, dir.Sub("single")).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("sharded/model.safetensors.index.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("sharded/model.safetensors")));
  int shards = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.Sub("sharded"))) {
    if (e.path().extension() == ".safetensors") ++shards;
  }
  EXPECT_GT(shards, 2);
  EXPECT_TRUE(std::filesystem::exists(
      dir.Sub("sharded/model-00001-of-0000" + std::to_string(shards) + ".safetensors")));
  auto a = LoadCausalLM(dir.Sub("sharded"), at::kCPU, at::kFloat);
  auto b = LoadCausalLM(dir.Sub("single"), at::kCPU, at::kFloat);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const auto pa = (*a)->NamedParameters();
  const auto pb = (*b)->NamedParameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].first, pb[i].first);
    EXPECT_TRUE(at::equal(pa[i].second, pb[i].second)) << pa[i].first;
  }
  // An index naming a tensor its shard lacks is rejected.
  std::string index = ReadFile(dir.Sub("sharded/model.safetensors.index.json"));
  const size_t at_pos = index.find("model-00001");
  index.replace(at_pos, 11, "model-00002");
  WriteFile(dir.Sub("sharded/model.safetensors.index.json"), index);
  auto bad = LoadCausalLM(dir.Sub("sharded"), at::kCPU, at::kFloat);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("is not in its shard"));
}

TEST(CheckpointTest, Bf16OnDiskLoadsAsF32AndMissingTensorsAreNamed) {
  TempDir dir;
  auto model = TinyModel(Architecture::kLlama);
  SaveOptions bf16;
  bf16.dtype = at::kBFloat16;
  ASSERT_TRUE(SaveCausalLM(*model, dir.path(), bf16).ok());
  EXPECT_THAT(ReadFile(dir.Sub("config.json")), HasSubstr("\"bfloat16\""));
  auto loaded = LoadCausalLM(dir.path(), at::kCPU, at::kFloat);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const auto original = model->NamedParameters();
  const auto params = (*loaded)->NamedParameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].second.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(params[i].second, original[i].second.to(at::kBFloat16).to(at::kFloat)));
  }
  // Drop one tensor: the error names it.
  auto file = SafetensorsFile::Open(dir.Sub("model.safetensors"));
  ASSERT_TRUE(file.ok());
  std::vector<std::pair<std::string, at::Tensor>> kept;
  for (const std::string& name : (*file)->names()) {
    if (name == "model.layers.1.self_attn.k_proj.weight") continue;
    kept.emplace_back(name, *(*file)->LoadAsStored(name, at::kCPU));
  }
  file->reset();
  ASSERT_TRUE(WriteSafetensors(dir.Sub("model.safetensors"), kept).ok());
  auto missing = LoadCausalLM(dir.path(), at::kCPU, at::kFloat);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("model.layers.1.self_attn.k_proj.weight"));
}

TEST(CheckpointTest, MissingFilesAreNotFoundNamingThem) {
  TempDir dir;
  auto no_config = LoadCausalLM(dir.path(), at::kCPU, at::kFloat);
  ASSERT_FALSE(no_config.ok());
  EXPECT_EQ(no_config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_config.status().message()), HasSubstr("config.json"));
  WriteFile(dir.Sub("config.json"), ModelConfigToJson(TinyConfig(Architecture::kLlama)));
  auto no_weights = LoadCausalLM(dir.path(), at::kCPU, at::kFloat);
  ASSERT_FALSE(no_weights.ok());
  EXPECT_EQ(no_weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_weights.status().message()), HasSubstr("model.safetensors"));
}

}  // namespace
}  // namespace memr1::llm
