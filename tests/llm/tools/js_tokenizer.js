#!/usr/bin/env node
// Reference tokenizer for the tests and benchmarks: the @lenml/tokenizers JS port of
// transformers.js, loaded from a tokenizer.json (+ tokenizer_config.json) on disk.
//
// usage: node js_tokenizer.js NPM_PREFIX MODEL_DIR MODE
//   MODE requests: stdin lines, one answer line each on stdout:
//                {"text": ..., "add_special_tokens": bool}    -> {"ids": [...]}
//                {"ids": [...], "skip_special_tokens": bool}   -> {"text": ...}
//   MODE bench:  stdin is raw text; encodes it line by line (each line with its "\n") and
//                prints {"bytes": N, "tokens": T, "seconds": S} for the encode loop alone.
'use strict';
const fs = require('fs');
const path = require('path');

const [prefix, modelDir, mode] = process.argv.slice(2);
if (!prefix || !modelDir || !mode) {
  process.stderr.write('usage: js_tokenizer.js NPM_PREFIX MODEL_DIR requests|bench\n');
  process.exit(2);
}
const { TokenizerLoader } = require(path.join(prefix, 'node_modules', '@lenml', 'tokenizers'));
const readJson = (name) => JSON.parse(fs.readFileSync(path.join(modelDir, name), 'utf8'));
const configPath = path.join(modelDir, 'tokenizer_config.json');
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: readJson('tokenizer.json'),
  tokenizerConfig: fs.existsSync(configPath) ? readJson('tokenizer_config.json') : {},
});
const input = fs.readFileSync(0, 'utf8');

if (mode === 'bench') {
  const lines = input.split('\n').map((line) => line + '\n');
  const start = process.hrtime.bigint();
  let tokens = 0;
  for (const line of lines) tokens += tokenizer.encode(line, { add_special_tokens: false }).length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ bytes: Buffer.byteLength(input, 'utf8') + 1, tokens, seconds }) + '\n');
  process.exit(0);
}

if (mode !== 'requests') {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
const out = [];
for (const line of input.split('\n')) {
  if (line.length === 0) continue;
  const request = JSON.parse(line);
  if ('text' in request) {
    const options = { add_special_tokens: Boolean(request.add_special_tokens) };
    out.push(JSON.stringify({ ids: tokenizer.encode(request.text, options) }));
  } else {
    const options = { skip_special_tokens: Boolean(request.skip_special_tokens) };
    out.push(JSON.stringify({ text: tokenizer.decode(request.ids, options) }));
  }
}
process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
