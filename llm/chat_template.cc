#include "llm/chat_template.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "llm/tokenizer.h"
#include "llm/unicode.h"

namespace memr1::llm {

namespace {

constexpr char kQwenDefaultSystem[] =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
// Llama-3.1's template prints this date unless the caller passes `date_string`.
constexpr char kLlama31DefaultDate[] = "26 Jul 2024";

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::string_view StripChar(std::string_view text, char c, bool left, bool right) {
  while (left && !text.empty() && text.front() == c) text.remove_prefix(1);
  while (right && !text.empty() && text.back() == c) text.remove_suffix(1);
  return text;
}

absl::Status CheckRoles(absl::Span<const ChatMessage> messages, bool allow_tool) {
  if (messages.empty()) return absl::InvalidArgumentError("chat template: no messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role == "system" || role == "user" || role == "assistant") continue;
    if (role == "tool" && allow_tool) continue;
    return absl::InvalidArgumentError(
        absl::StrCat("messages[", i, "]: role '", role, "' is not supported by this template"));
  }
  return absl::OkStatus();
}

// A tool message is rendered inside one user turn with its neighbours (both Qwen families).
void AppendQwenTool(absl::Span<const ChatMessage> messages, size_t i, std::string* out) {
  if (i == 0 || messages[i - 1].role != "tool") *out += "<|im_start|>user";
  absl::StrAppend(out, "\n<tool_response>\n", messages[i].content, "\n</tool_response>");
  if (i + 1 == messages.size() || messages[i + 1].role != "tool") *out += "<|im_end|>\n";
}

std::string RenderQwen25(absl::Span<const ChatMessage> messages,
                         const ChatTemplateOptions& options) {
  std::string out = "<|im_start|>system\n";
  out += messages[0].role == "system" ? messages[0].content : kQwenDefaultSystem;
  out += "<|im_end|>\n";
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0) || m.role == "assistant") {
      absl::StrAppend(&out, "<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
    } else if (m.role == "tool") {
      AppendQwenTool(messages, i, &out);
    }
  }
  if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string RenderQwen3(absl::Span<const ChatMessage> messages,
                        const ChatTemplateOptions& options) {
  std::string out;
  if (messages[0].role == "system") {
    absl::StrAppend(&out, "<|im_start|>system\n", messages[0].content, "<|im_end|>\n");
  }
  // The last user message that is not a wrapped tool response: reasoning is only kept for
  // the assistant turns after it.
  size_t last_query = messages.size() - 1;
  for (size_t k = messages.size(); k-- > 0;) {
    const ChatMessage& m = messages[k];
    if (m.role == "user" && !(absl::StartsWith(m.content, "<tool_response>") &&
                              absl::EndsWith(m.content, "</tool_response>"))) {
      last_query = k;
      break;
    }
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      absl::StrAppend(&out, "<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      std::string_view reasoning;
      const size_t close = content.find("</think>");
      if (close != std::string_view::npos) {
        // content.split('</think>')[-1].lstrip('\n')
        const size_t last_close = content.rfind("</think>");
        std::string_view after = StripChar(content.substr(last_close + 8), '\n', true, false);
        // content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
        std::string_view before = StripChar(content.substr(0, close), '\n', false, true);
        const size_t open = before.rfind("<think>");
        if (open != std::string_view::npos) before = before.substr(open + 7);
        reasoning = StripChar(before, '\n', true, false);
        content = after;
      }
      const bool last = i + 1 == messages.size();
      if (i > last_query && (last || !reasoning.empty())) {
        absl::StrAppend(&out, "<|im_start|>assistant\n<think>\n",
                        ToAbsl(StripChar(reasoning, '\n', true, true)), "\n</think>\n\n",
                        ToAbsl(StripChar(content, '\n', true, false)));
      } else {
        absl::StrAppend(&out, "<|im_start|>assistant\n", ToAbsl(content));
      }
      out += "<|im_end|>\n";
    } else if (m.role == "tool") {
      AppendQwenTool(messages, i, &out);
    }
  }
  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!options.enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

std::string RenderLlama3(absl::Span<const ChatMessage> messages,
                         const ChatTemplateOptions& options, const std::string& bos) {
  std::string out = bos;
  for (const ChatMessage& m : messages) {
    absl::StrAppend(&out, "<|start_header_id|>", m.role, "<|end_header_id|>\n\n",
                    ToAbsl(PythonStrip(m.content)), "<|eot_id|>");
  }
  if (options.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string RenderLlama31(absl::Span<const ChatMessage> messages,
                          const ChatTemplateOptions& options, const std::string& bos) {
  std::string out = bos;
  std::string_view system;
  if (messages[0].role == "system") {
    system = PythonStrip(messages[0].content);
    messages.remove_prefix(1);
  }
  absl::StrAppend(&out, "<|start_header_id|>system<|end_header_id|>\n\n",
                  "Cutting Knowledge Date: December 2023\n", "Today Date: ", kLlama31DefaultDate,
                  "\n\n", ToAbsl(system), "<|eot_id|>");
  for (const ChatMessage& m : messages) {
    absl::StrAppend(&out, "<|start_header_id|>", m.role, "<|end_header_id|>\n\n",
                    ToAbsl(PythonStrip(m.content)), "<|eot_id|>");
  }
  if (options.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// The Jinja sources as published with Qwen2.5-*-Instruct and Llama-3.1-*-Instruct
// (tests/llm/tokenizer_fixtures holds the same text, rendered there by jinja2).
constexpr char kQwen25Source[] = R"jinja({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)jinja";

constexpr char kLlama31Source[] = R"jinja({{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)jinja";

}  // namespace

std::string_view ChatTemplateSource(ChatFamily family) {
  switch (family) {
    case ChatFamily::kQwen25:
      return kQwen25Source;
    case ChatFamily::kLlama31:
      return kLlama31Source;
    default:
      return "";
  }
}

std::string_view ChatFamilyName(ChatFamily family) {
  switch (family) {
    case ChatFamily::kQwen25:
      return "qwen2.5";
    case ChatFamily::kQwen3:
      return "qwen3";
    case ChatFamily::kLlama3:
      return "llama3";
    case ChatFamily::kLlama31:
      return "llama3.1";
  }
  return "unknown";
}

absl::StatusOr<ChatFamily> ParseChatFamily(std::string_view name) {
  for (const ChatFamily family :
       {ChatFamily::kQwen25, ChatFamily::kQwen3, ChatFamily::kLlama3, ChatFamily::kLlama31}) {
    if (ChatFamilyName(family) == name) return family;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown chat family '", ToAbsl(name), "' (expected qwen2.5, qwen3, llama3 or llama3.1)"));
}

absl::StatusOr<ChatFamily> DetectChatFamily(std::string_view text) {
  if (Contains(text, "<|im_start|>")) {
    if (Contains(text, "<think>")) return ChatFamily::kQwen3;
    if (Contains(text, "You are Qwen, created by Alibaba Cloud")) return ChatFamily::kQwen25;
  } else if (Contains(text, "<|start_header_id|>")) {
    if (Contains(text, "Cutting Knowledge Date")) return ChatFamily::kLlama31;
    return ChatFamily::kLlama3;
  }
  return absl::UnimplementedError(absl::StrCat(
      "chat_template is not one of the supported families (qwen2.5, qwen3, llama3, llama3.1): "
      "'",
      ToAbsl(text.substr(0, 80)), text.size() > 80 ? "...'" : "'"));
}

ChatTemplate::ChatTemplate(ChatFamily family, std::string bos_token)
    : family_(family), bos_token_(std::move(bos_token)) {}

absl::StatusOr<ChatTemplate> ChatTemplate::ForTokenizer(const Tokenizer& tokenizer) {
  if (tokenizer.chat_template_text().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("tokenizer ", tokenizer.source(), " has no chat_template"));
  }
  absl::StatusOr<ChatFamily> family = DetectChatFamily(tokenizer.chat_template_text());
  if (!family.ok()) return family.status();
  return ChatTemplate(*family, tokenizer.bos_token());
}

absl::StatusOr<ChatTemplate> ChatTemplate::ForTokenizer(const Tokenizer& tokenizer,
                                                         std::string_view family_name) {
  if (family_name.empty()) return ForTokenizer(tokenizer);
  absl::StatusOr<ChatFamily> family = ParseChatFamily(family_name);
  if (!family.ok()) return family.status();
  return ChatTemplate(*family, tokenizer.bos_token());
}

absl::StatusOr<std::string> ChatTemplate::Apply(absl::Span<const ChatMessage> messages,
                                                const ChatTemplateOptions& options) const {
  switch (family_) {
    case ChatFamily::kQwen25: {
      absl::Status status = CheckRoles(messages, /*allow_tool=*/true);
      if (!status.ok()) return status;
      return RenderQwen25(messages, options);
    }
    case ChatFamily::kQwen3: {
      absl::Status status = CheckRoles(messages, /*allow_tool=*/true);
      if (!status.ok()) return status;
      return RenderQwen3(messages, options);
    }
    case ChatFamily::kLlama3: {
      absl::Status status = CheckRoles(messages, /*allow_tool=*/false);
      if (!status.ok()) return status;
      return RenderLlama3(messages, options, bos_token_);
    }
    case ChatFamily::kLlama31: {
      absl::Status status = CheckRoles(messages, /*allow_tool=*/false);
      if (!status.ok()) return status;
      return RenderLlama31(messages, options, bos_token_);
    }
  }
  return absl::InternalError("unknown chat family");
}

}  // namespace memr1::llm
