# myelin_add_app(<name> SOURCES <files...> [OUTPUT_DIR <dir>] [APP_TOML <file>])
#
# APP_TOML: the app's own defaults (restart, memory limit, ...; see
# docs/writing-an-app.md), copied beside the module as app.toml. Default:
# <name>/app.toml next to the calling CMakeLists.txt, when it exists.
#
# Builds an application module: a shared library lib<name>.so in
# <OUTPUT_DIR>/<name>/ (default: <build>/apps/<name>/), the layout
# myelin-apphost expects (apphost.base_dir/<app>/lib<app>.so). The module gets
# the SDK's headers only: SDK functions (supervisors, ...) are resolved from
# the app host that loads it, so a module never carries its own copy.
# An app logs with spdlog: found here too, for apps built on their own (myelin new).
if(NOT TARGET spdlog::spdlog)
  find_package(spdlog REQUIRED)
endif()

function(myelin_add_app name)
  cmake_parse_arguments(arg "" "OUTPUT_DIR;APP_TOML" "SOURCES" ${ARGN})
  if(NOT arg_APP_TOML AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}/app.toml)
    set(arg_APP_TOML ${CMAKE_CURRENT_SOURCE_DIR}/${name}/app.toml)
  endif()
  if(NOT arg_OUTPUT_DIR)
    set(arg_OUTPUT_DIR ${PROJECT_BINARY_DIR}/apps)
  endif()
  # MYELIN_SDK_DIR: the myelin tree, when an app is built on its own (myelin new).
  set(sdk ${PROJECT_SOURCE_DIR})
  if(MYELIN_SDK_DIR)
    set(sdk ${MYELIN_SDK_DIR})
  endif()
  if(NOT TARGET myelin_app_pch)
    # One precompiled header for every app module of the build: parsing CAF's
    # and spdlog's headers is half of an app's compile (a saved hello.cpp:
    # 6.7 -> 5.3 s, interleaved medians on 2 cores). Compiled once, then
    # reused by each app.
    set(pch_source ${PROJECT_BINARY_DIR}/myelin_app_pch.cpp)
    if(NOT EXISTS ${pch_source})
      file(WRITE ${pch_source} "// The precompiled header of the app modules (MyelinApp.cmake).\n")
    endif()
    add_library(myelin_app_pch OBJECT ${pch_source})
    target_include_directories(myelin_app_pch PRIVATE
      ${sdk}/apps/include
      ${sdk}/supervisors/include
      ${sdk}/runtime/include
      ${sdk}/actors/include)
    target_link_libraries(myelin_app_pch PRIVATE CAF::core spdlog::spdlog)
    target_compile_options(myelin_app_pch PRIVATE ${MYELIN_WARNINGS})
    set_target_properties(myelin_app_pch PROPERTIES
      POSITION_INDEPENDENT_CODE ON
      CXX_VISIBILITY_PRESET hidden)
    target_precompile_headers(myelin_app_pch PRIVATE <caf/all.hpp> <spdlog/spdlog.h>)
  endif()
  add_library(${name} MODULE ${arg_SOURCES})
  target_precompile_headers(${name} REUSE_FROM myelin_app_pch)
  target_include_directories(${name} PRIVATE
    ${sdk}/apps/include
    ${sdk}/supervisors/include
    ${sdk}/runtime/include
    ${sdk}/actors/include)
  # spdlog: an app logs with spdlog; its lines reach myelin's log (runtime/log/app_log.hpp).
  target_link_libraries(${name} PRIVATE CAF::core spdlog::spdlog)
  target_compile_options(${name} PRIVATE ${MYELIN_WARNINGS})
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME ${name}
    LIBRARY_OUTPUT_DIRECTORY ${arg_OUTPUT_DIR}/${name}
    CXX_VISIBILITY_PRESET hidden)
  if(arg_APP_TOML)
    # configure_file: CMake re-copies it on any build once it changes, also
    # when only the app.toml changed (a POST_BUILD step would wait for a relink).
    configure_file(${arg_APP_TOML} ${arg_OUTPUT_DIR}/${name}/app.toml COPYONLY)
  endif()
endfunction()
