# memr1's decoder log-probs against transformers' own models on the same safetensors.
import json, os, torch
from transformers import AutoModelForCausalLM
base = os.path.dirname(os.path.abspath(__file__))
ids = [json.loads(l)["ids"] for l in open(f"{base}/ids.jsonl")]
for arch in ["qwen2", "qwen3", "llama", "llama31"]:
    model = AutoModelForCausalLM.from_pretrained(f"{base}/m_{arch}", torch_dtype=torch.float32).eval()
    ours = [json.loads(l)["logprobs"] for l in open(f"{base}/lp_{arch}.jsonl")]
    worst = 0.0
    spread = 0.0
    for seq, lp in zip(ids, ours):
        x = torch.tensor([seq])
        with torch.no_grad():
            logits = model(x).logits[0].double()
        ref = torch.log_softmax(logits, -1)[:-1].gather(1, x[0, 1:, None]).squeeze(1)
        o = torch.tensor(lp, dtype=torch.float64)
        worst = max(worst, (ref - o).abs().max().item())
        spread = max(spread, ref.std().item())
    print(f"{arch}: max |memr1 - transformers| log-prob = {worst:.3g} (log-prob std {spread:.3g})")
