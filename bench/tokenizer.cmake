# bench_tokenizer: encode throughput against the JS reference tokenizer in the same run, and
# the time and memory to load the 151k-token Qwen vocabulary (docs/performance.md, Tokenizer).
add_executable(bench_tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_bench.cc)
target_compile_options(bench_tokenizer PRIVATE ${MEMR1_WARNINGS})
target_include_directories(bench_tokenizer PRIVATE "${PROJECT_SOURCE_DIR}")
target_compile_definitions(bench_tokenizer PRIVATE
  MEMR1_SOURCE_DIR="${PROJECT_SOURCE_DIR}" MEMR1_BINARY_DIR="${PROJECT_BINARY_DIR}")
target_link_libraries(bench_tokenizer PRIVATE memr1::llm nlohmann_json::nlohmann_json)
