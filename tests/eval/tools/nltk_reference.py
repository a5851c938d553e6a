#!/usr/bin/python3
"""Reference scores for tests/eval: NLTK itself plus the reference scorers restated in Python.

Usage: nltk_reference.py IN.json OUT.json
IN:  {"tokenize": [text, ...], "stem": [word, ...],
      "pairs": [{"prediction": p, "gold": g, "category": c}, ...]}
OUT: {"tokenize": [[token, ...], ...], "stem": [stem, ...],
      "pairs": [{"em": .., "f1": .., "f1_locomo": .., "bleu1": ..}, ...]}

bleu1 is Mem0's calculate_bleu_scores (sentence_bleu, weights (1,0,0,0), smoothing method1) on
NLTKWordTokenizer tokens; f1 is Mem0's calculate_f1; f1_locomo restates LoCoMo's
task_eval/evaluation.py (normalize_answer, f1_score, f1 for multi-hop, the category rules).
Run with Debian's python (/usr/bin/python3) and python3-nltk.
"""
import json
import re
import string
import sys
import warnings
from collections import Counter

from nltk.stem import PorterStemmer
from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

warnings.simplefilter("ignore")
TOKENIZER = NLTKWordTokenizer()
STEMMER = PorterStemmer()


def bleu1(prediction, gold):
    hypothesis = TOKENIZER.tokenize(prediction.lower())
    references = [TOKENIZER.tokenize(gold.lower())]
    return float(sentence_bleu(references, hypothesis, weights=(1, 0, 0, 0),
                               smoothing_function=SmoothingFunction().method1))


def simple_tokenize(text):
    text = str(text).lower()
    for p in [".", ",", "!", "?"]:
        text = text.replace(p, " ")
    return text.split()


def mem0_f1(prediction, gold):
    pred = set(simple_tokenize(prediction))
    ref = set(simple_tokenize(gold))
    if not pred or not ref:
        return 0.0
    common = pred & ref
    precision = len(common) / len(pred)
    recall = len(common) / len(ref)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def normalize_answer(s):
    s = s.replace(",", "")

    def remove_articles(text):
        return re.sub(r"\b(a|an|the|and)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def locomo_f1_score(prediction, gold):
    prediction_tokens = [STEMMER.stem(w) for w in normalize_answer(prediction).split()]
    gold_tokens = [STEMMER.stem(w) for w in normalize_answer(gold).split()]
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def locomo_f1_multi(prediction, gold):
    predictions = [p.strip() for p in prediction.split(",")]
    golds = [g.strip() for g in gold.split(",")]
    values = [max(locomo_f1_score(p, g) for p in predictions) for g in golds]
    return sum(values) / len(values)


def locomo_f1(prediction, gold, category):
    if category == 3:
        gold = gold.split(";")[0].strip()
    if category == 1:
        return locomo_f1_multi(prediction, gold)
    if category == 5:
        lowered = prediction.lower()
        return 1.0 if ("no information available" in lowered or "not mentioned" in lowered) else 0.0
    return locomo_f1_score(prediction, gold)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    out = {
        "tokenize": [TOKENIZER.tokenize(text) for text in request.get("tokenize", [])],
        "stem": [STEMMER.stem(word) for word in request.get("stem", [])],
        "pairs": [],
    }
    for pair in request.get("pairs", []):
        p, g, c = pair["prediction"], pair["gold"], pair["category"]
        out["pairs"].append({
            "em": 1.0 if p.strip().lower() == g.strip().lower() else 0.0,
            "f1": mem0_f1(p, g),
            "f1_locomo": locomo_f1(p, g, c),
            "bleu1": bleu1(p, g),
        })
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
