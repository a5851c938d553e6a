// `memr1 model init|logprobs|generate|embed` end to end through the real binary.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"
#include "tests/testing/process.h"

namespace memr1 {
namespace {

using ::memr1::testing::RunMemr1;
using ::testing::HasSubstr;
using Json = nlohmann::json;

class ModelCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "memr1_model_cli_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name)) << text;
  }
  std::vector<Json> ReadLines(const std::string& name) const {
    std::ifstream in(Path(name));
    std::vector<Json> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(Json::parse(line));
    return out;
  }

  std::string dir_;
};

TEST_F(ModelCliTest, InitThenLogprobsGenerateAndEmbed) {
  Write("small.json", R"({"vocab_size": 64, "hidden_size": 32, "intermediate_size": 48,
                          "num_hidden_layers": 2, "num_attention_heads": 4,
                          "num_key_value_heads": 2, "eos_token_id": 63})");
  auto init = RunMemr1("model init --arch qwen2 --config " + Path("small.json") +
                       " --seed 3 --output " + Path("model"));
  ASSERT_EQ(init.exit_code, 0) << init.output;
  EXPECT_THAT(init.output, HasSubstr("Qwen2ForCausalLM"));
  EXPECT_TRUE(std::filesystem::exists(Path("model/config.json")));
  EXPECT_TRUE(std::filesystem::exists(Path("model/model.safetensors")));

  Write("in.jsonl", "{\"ids\": [1, 2, 3, 4]}\n{\"ids\": [5]}\n\n{\"ids\": [7, 8, 9]}\n");
  auto logprobs = RunMemr1("model logprobs --model " + Path("model") + " --input " +
                           Path("in.jsonl") + " --output " + Path("lp.jsonl"));
  ASSERT_EQ(logprobs.exit_code, 0) << logprobs.output;
  const auto lp = ReadLines("lp.jsonl");
  ASSERT_EQ(lp.size(), 3u);
  EXPECT_EQ(lp[0]["logprobs"].size(), 3u);
  EXPECT_EQ(lp[1]["logprobs"].size(), 0u);
  EXPECT_EQ(lp[2]["logprobs"].size(), 2u);
  for (const Json& v : lp[0]["logprobs"]) EXPECT_LT(v.get<double>(), 0.0);

  auto generate = RunMemr1("model generate --model " + Path("model") + " --input " +
                           Path("in.jsonl") + " --output " + Path("gen.jsonl") +
                           " --max-new-tokens 5 --greedy --batch-size 2");
  ASSERT_EQ(generate.exit_code, 0) << generate.output;
  const auto gen = ReadLines("gen.jsonl");
  ASSERT_EQ(gen.size(), 3u);
  for (const Json& g : gen) {
    ASSERT_EQ(g["ids"].size(), g["logprobs"].size());
    const std::string reason = g["finish_reason"];
    EXPECT_TRUE(reason == "length" ? g["ids"].size() == 5u : reason == "stop") << g.dump();
  }
  // The greedy log-probs are the scoring log-probs of prompt + completion.
  std::vector<int64_t> seq = {1, 2, 3, 4};
  for (const Json& id : gen[0]["ids"]) seq.push_back(id.get<int64_t>());
  Write("seq.jsonl", Json{{"ids", seq}}.dump() + "\n");
  ASSERT_EQ(RunMemr1("model logprobs --model " + Path("model") + " --input " + Path("seq.jsonl") +
                     " --output " + Path("seq_lp.jsonl"))
                .exit_code,
            0);
  const auto seq_lp = ReadLines("seq_lp.jsonl")[0]["logprobs"];
  for (size_t t = 0; t < gen[0]["logprobs"].size(); ++t) {
    EXPECT_NEAR(seq_lp[3 + t].get<double>(), gen[0]["logprobs"][t].get<double>(), 1e-4);
  }

  // Seeded sampling from the CLI is reproducible.
  const std::string sample = "model generate --model " + Path("model") + " --input " +
                             Path("in.jsonl") + " --max-new-tokens 6 --temperature 0.9 "
                             "--top-p 0.95 --top-k 40 --seed 11 --output ";
  ASSERT_EQ(RunMemr1(sample + Path("s1.jsonl")).exit_code, 0);
  ASSERT_EQ(RunMemr1(sample + Path("s2.jsonl")).exit_code, 0);
  EXPECT_EQ(ReadLines("s1.jsonl"), ReadLines("s2.jsonl"));

  auto embed = RunMemr1("model embed --model " + Path("model") + " --input " +
                        Path("in.jsonl") + " --output " + Path("emb.jsonl"));
  ASSERT_EQ(embed.exit_code, 0) << embed.output;
  const auto emb = ReadLines("emb.jsonl");
  ASSERT_EQ(emb.size(), 3u);
  double norm = 0;
  for (const Json& v : emb[0]["embedding"]) norm += v.get<double>() * v.get<double>();
  EXPECT_EQ(emb[0]["embedding"].size(), 32u);
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST_F(ModelCliTest, BadInputIsAClearErrorAndWritesNothing) {
  ASSERT_EQ(RunMemr1("model init --arch llama --seed 1 --output " + Path("model")).exit_code, 0);
  Write("bad.jsonl", "{\"ids\": [1, 2]}\n{\"tokens\": [1]}\n");
  auto bad = RunMemr1("model logprobs --model " + Path("model") + " --input " +
                      Path("bad.jsonl") + " --output " + Path("out.jsonl"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("bad.jsonl:2"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.jsonl")));

  Write("oov.jsonl", "{\"ids\": [1, 100000]}\n");
  auto oov = RunMemr1("model generate --model " + Path("model") + " --input " +
                      Path("oov.jsonl") + " --output " + Path("out.jsonl") +
                      " --max-new-tokens 2 --greedy");
  EXPECT_EQ(oov.exit_code, 1);
  EXPECT_THAT(oov.output, HasSubstr("100000"));

  auto arch = RunMemr1("model init --arch gpt2 --output " + Path("x"));
  EXPECT_EQ(arch.exit_code, 1);
  EXPECT_THAT(arch.output, HasSubstr("gpt2"));

  Write("good.jsonl", "{\"ids\": [1]}\n");
  auto missing = RunMemr1("model embed --model " + Path("nowhere") + " --input " +
                          Path("good.jsonl") + " --output " + Path("out.jsonl"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("nowhere"));
  EXPECT_FALSE(std::filesystem::exists(Path("out.jsonl")));
}

TEST_F(ModelCliTest, GenerateStreamsTheDecodedCompletion) {
  // A tiny tokenizer trained here and a model with its vocabulary.
  std::vector<std::string> corpus;
  for (int i = 0; i < 40; ++i) {
    corpus.push_back("the memory agent adds, updates and deletes facts about " +
                     std::to_string(i) + " friends\n");
  }
  llm::BpeTrainerOptions options;
  options.vocab_size = 320;
  auto trained = llm::TrainBpe(corpus, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  ASSERT_TRUE(llm::WriteTrainedTokenizer(*trained, Path("model")).ok());
  auto tokenizer = llm::Tokenizer::Load(Path("model"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ASSERT_TRUE(tokenizer->get()->eos_id().has_value());
  const int32_t eos = *tokenizer->get()->eos_id();
  Write("small.json", Json{{"vocab_size", trained->vocab_size}, {"hidden_size", 32},
                           {"intermediate_size", 48}, {"num_hidden_layers", 2},
                           {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                           {"eos_token_id", eos}}
                          .dump());
  ASSERT_EQ(RunMemr1("model init --arch qwen2 --config " + Path("small.json") +
                     " --seed 5 --output " + Path("model"))
                .exit_code,
            0);
  const std::string prompt = "the memory agent";
  auto run = RunMemr1("generate --model " + Path("model") + " --prompt \"" + prompt +
                      "\" --max-new-tokens 12 --greedy");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // Same completion through the scripting interface, decoded here.
  auto ids = tokenizer->get()->Encode(prompt, true);
  ASSERT_TRUE(ids.ok());
  Write("prompt.jsonl", Json{{"ids", *ids}}.dump() + "\n");
  ASSERT_EQ(RunMemr1("model generate --model " + Path("model") + " --input " +
                     Path("prompt.jsonl") + " --output " + Path("out.jsonl") +
                     " --max-new-tokens 12 --greedy")
                .exit_code,
            0);
  const auto out = ReadLines("out.jsonl");
  ASSERT_EQ(out.size(), 1u);
  std::vector<int32_t> generated;
  for (const Json& id : out[0]["ids"]) generated.push_back(id.get<int32_t>());
  ASSERT_EQ(generated.size(), 12u) << out[0].dump();
  auto text = tokenizer->get()->Decode(generated, /*skip_special_tokens=*/true);
  ASSERT_TRUE(text.ok());
  // stdout is the streamed text and a newline; the token summary follows on stderr.
  EXPECT_EQ(run.output.substr(0, text->size() + 1), *text + "\n") << Json(*ids).dump();
  EXPECT_THAT(run.output, HasSubstr("[12 tokens, finish_reason length]"));

  auto chat = RunMemr1("generate --model " + Path("model") + " --prompt hi --chat --system be_brief"
                       " --max-new-tokens 4 --seed 2");
  EXPECT_EQ(chat.exit_code, 0) << chat.output;
  EXPECT_THAT(chat.output, HasSubstr("finish_reason"));
  auto no_tokenizer = RunMemr1("generate --model " + Path("nowhere") + " --prompt hi");
  EXPECT_EQ(no_tokenizer.exit_code, 1);
  EXPECT_THAT(no_tokenizer.output, HasSubstr("nowhere"));
}

}  // namespace
}  // namespace memr1
