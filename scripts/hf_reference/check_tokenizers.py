# Compares memr1's tokenizer ids and chat-template renderings with Hugging Face's own libraries
# (tokenizers, transformers) on the same tokenizer.json / chat templates.
import json, sys, os
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast
import transformers
print("transformers", transformers.__version__)
base = os.path.dirname(os.path.abspath(__file__))
texts = [json.loads(l)["text"] for l in open(f"{base}/corpus.jsonl")]
report = {}
for name in ["qwen3", "llama"]:
    tok = Tokenizer.from_file(f"{base}/{name}/tokenizer.json")
    for special, suffix in [(False, ""), (True, "_special")]:
        ours = [json.loads(l)["ids"] for l in open(f"{base}/ours_{name}{suffix}.jsonl")]
        bad = []
        for i, (t, o) in enumerate(zip(texts, ours)):
            hf = tok.encode(t, add_special_tokens=special).ids
            if hf != o:
                bad.append({"i": i, "text": t[:80], "hf": hf[:40], "ours": o[:40]})
        report[f"{name}{suffix}"] = {"lines": len(texts), "mismatches": len(bad), "examples": bad[:5]}
        print(name, "special" if special else "plain", len(texts), "lines,", len(bad), "mismatches")
        for b in bad[:5]: print("  ", json.dumps(b, ensure_ascii=True))
chats = [json.loads(l)["messages"] for l in open(f"{base}/chats.jsonl")]
def render(dirname, template, gen, **kw):
    t = PreTrainedTokenizerFast(tokenizer_file=f"{base}/{dirname}/tokenizer.json")
    cfg = json.load(open(f"{base}/{dirname}/tokenizer_config.json"))
    t.bos_token = cfg.get("bos_token") if isinstance(cfg.get("bos_token"), str) else (cfg.get("bos_token") or {}).get("content")
    t.eos_token = cfg.get("eos_token") if isinstance(cfg.get("eos_token"), str) else (cfg.get("eos_token") or {}).get("content")
    tmpl = template if template is not None else cfg["chat_template"]
    return [t.apply_chat_template(c, chat_template=tmpl, tokenize=False, add_generation_prompt=gen, **kw) for c in chats]
cases = [("qwen3", "qwen3", None, {}), ("qwen3nt", "qwen3", None, {"enable_thinking": False}),
         ("llama", "llama", None, {}), ("llama31", "llama", open(f"{base}/llama31_template.jinja").read(), {}),
         ("qwen25", "qwen3", open(f"{base}/qwen25_template.jinja").read(), {})]
for tag, d, tmpl, kw in cases:
    for gen, suffix in [(False, ""), (True, "gen")]:
        ours = [json.loads(l)["text"] for l in open(f"{base}/ours_chat_{tag}_{suffix}.jsonl")]
        try:
            hf = render(d, tmpl, gen, **kw)
        except Exception as e:
            print("chat", tag, suffix, "HF failed:", repr(e)[:200]); continue
        bad = [(i, h, o) for i, (h, o) in enumerate(zip(hf, ours)) if h != o]
        print("chat", tag, "gen" if gen else "nogen", len(ours), "conversations,", len(bad), "mismatches")
        for i, h, o in bad[:2]: print("   HF:  ", json.dumps(h)[:400]); print("   ours:", json.dumps(o)[:400])
