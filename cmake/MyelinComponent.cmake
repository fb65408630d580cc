# myelin_add_component(): the one way a top-level folder becomes a library.
#
#   myelin_add_component(<folder>
#     [DEPS <targets...>]          # public link dependencies
#     [PRIVATE_DEPS <targets...>]  # private link dependencies
#     [TEST_DEPS <targets...>])    # extra dependencies of the test binary
#
# Creates
#   - library myelin_<folder> (alias myelin::<folder>) from <folder>/src/*.cpp,
#     public headers in <folder>/include, private headers in <folder>/src;
#   - test binary myelin_<folder>_test from tests/<folder>/*_test.cpp, registered
#     with CTest test by test (every test under a time limit);
#   - install rules for the library and its public headers.
# A folder without sources becomes an INTERFACE library (headers only).

include(GoogleTest)

set(MYELIN_TEST_TIMEOUT 120 CACHE STRING "Default time limit of one test, in seconds")

function(myelin_add_component folder)
  cmake_parse_arguments(arg "" "" "DEPS;PRIVATE_DEPS;TEST_DEPS" ${ARGN})
  set(lib myelin_${folder})
  set(dir ${PROJECT_SOURCE_DIR}/${folder})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${dir}/src/*.cpp)

  if(srcs)
    add_library(${lib} STATIC ${srcs})
    target_include_directories(${lib}
      PUBLIC $<BUILD_INTERFACE:${dir}/include> $<INSTALL_INTERFACE:include>
      PRIVATE ${dir}/src)
    target_link_libraries(${lib} PUBLIC ${arg_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
    target_compile_options(${lib} PRIVATE ${MYELIN_WARNINGS})
    set_target_properties(${lib} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  else()
    add_library(${lib} INTERFACE)
    target_include_directories(${lib}
      INTERFACE $<BUILD_INTERFACE:${dir}/include> $<INSTALL_INTERFACE:include>)
    target_link_libraries(${lib} INTERFACE ${arg_DEPS})
  endif()
  add_library(myelin::${folder} ALIAS ${lib})

  install(TARGETS ${lib} EXPORT myelin-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  if(EXISTS ${dir}/include)
    install(DIRECTORY ${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()

  if(MYELIN_BUILD_TESTS)
    file(GLOB_RECURSE tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${folder}/*_test.cpp)
    if(tests)
      set(test_bin myelin_${folder}_test)
      add_executable(${test_bin} ${tests})
      target_link_libraries(${test_bin} PRIVATE ${lib} ${arg_TEST_DEPS} myelin_test_support
                            GTest::gmock GTest::gtest_main)
      target_compile_options(${test_bin} PRIVATE ${MYELIN_WARNINGS})
      set_target_properties(${test_bin} PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                            ${PROJECT_BINARY_DIR}/tests)
      gtest_discover_tests(${test_bin}
        DISCOVERY_MODE PRE_TEST
        TEST_PREFIX "${folder}."
        PROPERTIES TIMEOUT ${MYELIN_TEST_TIMEOUT}
                   ENVIRONMENT "MYELIN_BIN_DIR=${PROJECT_BINARY_DIR}/bin;MYELIN_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
    endif()
  endif()
endfunction()
