# myelin_add_fuzzer(): a libFuzzer target for one parser, run briefly by CTest.
#
#   myelin_add_fuzzer(<name>
#     SOURCES <files...>          # the fuzz entry (LLVMFuzzerTestOneInput) and the
#                                 # parser's sources; standard C++ only (no CAF, no
#                                 # third-party headers) so clang can build them alone
#     [INCLUDES <dirs...>]        # include directories
#     [LIBS <flags...>]           # libraries to link (e.g. -lcaf_core for a parser that
#                                 # reports caf::error: CAF's headers, built by g++,
#                                 # link with clang++ against the same libstdc++)
#     [SECONDS <n>])              # how long CTest fuzzes (default 10)
#
# The project is compiled with g++, which has no libFuzzer, so the target is built by
# clang++ (Debian's clang + libclang-rt-14-dev) through a custom command into
# build/fuzz/<name>, with ASan and UBSan. The CTest test `fuzz.<name>` starts from
# the seed corpus in tests/fuzz/corpus/<name>/ (if present) and fails on any crash,
# leak or sanitizer report. Without clang++ the test is registered as one that
# reports the missing compiler and is skipped (CTest exit code 77).

find_program(MYELIN_CLANGXX NAMES clang++ clang++-14)

function(myelin_add_fuzzer name)
  cmake_parse_arguments(arg "" "SECONDS" "SOURCES;INCLUDES;LIBS" ${ARGN})
  if(NOT arg_SECONDS)
    set(arg_SECONDS 10)
  endif()
  set(out ${PROJECT_BINARY_DIR}/fuzz/${name})
  set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
  if(NOT MYELIN_CLANGXX)
    add_test(NAME fuzz.${name}
             COMMAND sh -c "echo 'SKIP: clang++ not found (scripts/install-deps installs clang)'; exit 77")
    set_tests_properties(fuzz.${name} PROPERTIES SKIP_RETURN_CODE 77)
    return()
  endif()

  set(srcs)
  foreach(src ${arg_SOURCES})
    get_filename_component(abs ${src} ABSOLUTE)
    list(APPEND srcs ${abs})
  endforeach()
  set(incs)
  foreach(inc ${arg_INCLUDES})
    get_filename_component(abs ${inc} ABSOLUTE)
    list(APPEND incs -I${abs})
  endforeach()

  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/fuzz
    COMMAND ${MYELIN_CLANGXX} -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=all ${incs} ${srcs} ${arg_LIBS} -o ${out}
    DEPENDS ${srcs}
    COMMENT "Building libFuzzer target ${name} with clang++"
    VERBATIM)
  add_custom_target(fuzz_${name} ALL DEPENDS ${out})

  # A scratch corpus per run keeps the checked-in seeds untouched.
  add_test(NAME fuzz.${name}
           COMMAND sh -c "work=$(mktemp -d) && trap 'rm -rf \"$work\"' EXIT && \
if [ -d '${corpus}' ]; then cp -r '${corpus}'/. \"$work\"/; fi && \
'${out}' -max_total_time=${arg_SECONDS} -timeout=5 -rss_limit_mb=1024 \
-print_final_stats=1 \"$work\"")
  set_tests_properties(fuzz.${name} PROPERTIES TIMEOUT 120)
endfunction()
