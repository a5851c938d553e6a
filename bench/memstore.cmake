# memstore benchmarks (the RPC-level one with its baselines is `memr1 memstore bench`).
if(TARGET memr1_memstore)
  add_executable(bench_memstore_store memstore_store.cc)
  target_compile_options(bench_memstore_store PRIVATE ${MEMR1_WARNINGS})
  target_include_directories(bench_memstore_store PRIVATE "${PROJECT_SOURCE_DIR}")
  target_link_libraries(bench_memstore_store PRIVATE memr1::memstore benchmark::benchmark
                        benchmark::benchmark_main)
endif()
