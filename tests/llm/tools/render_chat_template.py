#!/usr/bin/python3
"""Reference chat-template renderer: Jinja2 configured the way transformers'
apply_chat_template configures it (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, its
tojson and raise_exception), so the text is what transformers renders.

usage: render_chat_template.py TEMPLATE_SOURCE < requests.jsonl > texts.jsonl
  TEMPLATE_SOURCE: a tokenizer_config.json (its "chat_template") or a .jinja file.
  request: {"messages": [...], "add_generation_prompt": bool, "bos_token": str,
            "eos_token": str, "kwargs": {...}}  ->  {"text": str}
"""
import json
import sys

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise RuntimeError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def main():
    source = sys.argv[1]
    with open(source, encoding="utf-8") as f:
        text = f.read()
    if source.endswith(".json"):
        text = json.loads(text)["chat_template"]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(text)
    out = []
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        rendered = template.render(messages=request["messages"],
                                   add_generation_prompt=request.get("add_generation_prompt", False),
                                   bos_token=request.get("bos_token", ""),
                                   eos_token=request.get("eos_token", ""),
                                   **request.get("kwargs", {}))
        out.append(json.dumps({"text": rendered}, ensure_ascii=False))
    sys.stdout.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    main()
