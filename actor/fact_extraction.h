#pragma once

// Fact extraction: the first step of the Memory Manager's pipeline. For each dialogue turn an
// LLM returns the facts worth remembering as JSON, a list of strings (["Maya moved to Lisbon"])
// or an object {"facts": [...]}; the identity extractor takes the turn itself as the one fact
// (cheap runs, LoCoMo-RAG). An empty list is a valid answer (small talk).
//
// Thread safety: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "actor/output_format.h"
#include "actor/prompts.h"
#include "actor/text_policy.h"
#include "actor/turns.h"

namespace memr1::actor {

// The extraction request for `turn` (one user message rendered from templates.extraction).
PolicyRequest BuildExtractionRequest(const PromptTemplates& templates, const TurnContext& turn,
                                     const SamplingOptions& sampling);

// Parses an extraction completion. Facts are whitespace-trimmed; empty ones and exact
// duplicates are dropped silently; at most `max_facts` are kept, in output order (the rest are
// dropped, and `*dropped`, when not null, counts those only; a negative max_facts keeps all).
// kNoJson / kMalformedJson / kWrongShape (neither a list nor {"facts": [...]}, or a non-string
// element: one bad element rejects the whole list) otherwise.
Parsed<std::vector<std::string>> ParseFacts(std::string_view text, int max_facts,
                                            int* dropped = nullptr);

// The identity extractor's fact for `turn`: "<speaker>: <text>", so a memory keeps who said it.
std::string IdentityFact(const TurnContext& turn);

}  // namespace memr1::actor
