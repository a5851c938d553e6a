# The agents (prompts, parsers, fact extraction, Memory Manager, Answer Agent): parsers and
# rendering as unit tests (with the Memory Manager output corpus in testdata/manager_outputs),
# retrieval and id mapping against a real memstore server on 127.0.0.1.
memr1_add_test(actor_agents_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/output_format_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/manager_parser_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/answer_parser_test.cc
  DEPS memr1::actor nlohmann_json::nlohmann_json
  LABELS unit)
memr1_add_test(actor_agents_retrieval_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/agents_retrieval_test.cc
  DEPS memr1::actor
  LABELS integration
  TIMEOUT 120)
