# Helpers that give every memr1 library, binary and test the same shape.

set(MEMR1_WARNINGS -Wall -Wextra)
if(MEMR1_WERROR)
  list(APPEND MEMR1_WARNINGS -Werror)
endif()

# memr1_add_library(NAME folder SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# Creates the target memr1_<folder> with the alias memr1::<folder>. Public headers are
# included as "<folder>/<file>.h" from the repository root.
function(memr1_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(memr1_${name} STATIC ${ARG_SOURCES})
  add_library(memr1::${name} ALIAS memr1_${name})
  target_include_directories(memr1_${name} PUBLIC "${PROJECT_SOURCE_DIR}" "${PROJECT_BINARY_DIR}")
  target_compile_options(memr1_${name} PRIVATE ${MEMR1_WARNINGS})
  target_link_libraries(memr1_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# memr1_add_test(NAME SOURCES ... DEPS ... LABELS ... [TIMEOUT seconds] [ARGS ...])
# One GoogleTest executable registered as one CTest test carrying the given labels
# (unit, integration, mpi, slow, gpu).
function(memr1_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS;ARGS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${MEMR1_WARNINGS})
  target_include_directories(${name} PRIVATE "${PROJECT_SOURCE_DIR}" "${PROJECT_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    MEMR1_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MEMR1_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name} ${ARG_ARGS})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()
