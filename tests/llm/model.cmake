# The model engine's suites (issue 5): checkpoints, decoder numerics (including an independent
# NumPy reference, tests/llm/tools/model_reference.py), the rollout engine, and the CLI.
memr1_add_test(model_checkpoint_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/model_checkpoint_test.cc
  DEPS memr1::llm
  LABELS unit)
memr1_add_test(model_decoder_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/model_decoder_test.cc
  DEPS memr1::llm
  LABELS unit)
memr1_add_test(model_engine_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/model_engine_test.cc
  DEPS memr1::llm
  LABELS unit)
memr1_add_test(model_cli_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/model_cli_test.cc
  DEPS memr1::llm memr1_testing
  LABELS integration)
