"""Writes the inputs of the Hugging Face reference check: corpus.jsonl, chats.jsonl, ids.jsonl
and the Jinja sources of the templates memr1 writes itself (Qwen-2.5, Llama-3.1)."""
import json
import random
import re
import sys

root, out = sys.argv[1], sys.argv[2]
texts = [json.loads(line)["text"] for line in open(f"{root}/tests/llm/tokenizer_corpus.jsonl")]
locomo = json.load(open(f"{root}/../shared/data/locomo/locomo10.json"))
for sample in locomo[:4]:
    for key, value in sample["conversation"].items():
        if isinstance(value, list):
            for turn in value:
                texts.append(turn["text"])
                if turn.get("blip_caption"):
                    texts.append(turn["blip_caption"])
    for qa in sample["qa"]:
        texts += [qa["question"], str(qa.get("answer", ""))]
texts += ["a\u0085b", "\ufeffstart", "x\u180ey", "  many   spaces\t\ttabs\n\nnewlines\r\n",
          "emoji \U0001F469\u200d\U0001F469\u200d\U0001F467 \U0001F1F5\U0001F1F9 done",
          "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3001\u4e2d\u6587\u6587\u672c\u3002\ud55c\uad6d\uc5b4",
          "e\u0301 combining", "numbers 1234567 3.14159 1,000,000",
          "'s 're 've 'll 'd 'm 't I'M YOU'RE", "<|im_start|>user\nhi<|im_end|>",
          "<|begin_of_text|><|start_header_id|>system<|end_header_id|>",
          "\u00a0nbsp\u2003emsp\u3000ideo", "   leading", "trailing   ", "", " ", "a" * 300,
          "\u00c0\u00c9\u00ce\u00d5\u00dc \u00df\u00f8", "x\u200by\u200dz", "\U0001F600\U0001F601"]
with open(f"{out}/corpus.jsonl", "w") as f:
    for text in texts:
        f.write(json.dumps({"text": text}) + "\n")
chats = [
    [{"role": "user", "content": "Where does Maya live?"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me about Lisbon."}],
    [{"role": "user", "content": "Memories:\n[8 May, 2023] Maya: I live in Porto.\n\nQuestion: Where?\n**Answer:**"}],
    [{"role": "system", "content": "You keep a memory bank."},
     {"role": "user", "content": "{\"facts\": [\"a\"]}  trailing  "}],
    [{"role": "user", "content": "  leading and trailing whitespace  \n"}],
]
with open(f"{out}/chats.jsonl", "w") as f:
    for chat in chats:
        f.write(json.dumps({"messages": chat}) + "\n")
source = open(f"{root}/llm/chat_template.cc").read()
for name, file in [("kLlama31Source", "llama31_template.jinja"), ("kQwen25Source", "qwen25_template.jinja")]:
    match = re.search(name + r'\[\] = R"jinja\((.*?)\)jinja";', source, re.S)
    open(f"{out}/{file}", "w").write(match.group(1))
random.seed(3)
with open(f"{out}/ids.jsonl", "w") as f:
    for n in [5, 37, 200]:
        f.write(json.dumps({"ids": [random.randrange(0, 256) for _ in range(n)]}) + "\n")
