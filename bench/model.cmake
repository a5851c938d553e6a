# Model engine throughput and loading memory (docs/performance.md, "Model engine").
add_executable(bench_model ${CMAKE_CURRENT_LIST_DIR}/model_bench.cc)
target_compile_options(bench_model PRIVATE ${MEMR1_WARNINGS})
target_include_directories(bench_model PRIVATE "${PROJECT_SOURCE_DIR}" "${PROJECT_BINARY_DIR}")
target_link_libraries(bench_model PRIVATE memr1::llm torch)
