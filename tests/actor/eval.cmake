# `memr1 eval` and `memr1 rollout` end to end through the binary: a synthetic world, a tiny
# random model, every pipeline, both training stages into `memr1 learner offline` (the numbers
# are meaningless; the plumbing, the files and the report are checked).
memr1_add_test(actor_eval_cli_test
  SOURCES eval_cli_test.cc
  DEPS memr1::actor memr1_testing nlohmann_json::nlohmann_json
  LABELS integration slow
  TIMEOUT 900)
add_dependencies(actor_eval_cli_test memr1)
