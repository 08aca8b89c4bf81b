# The layering the build enforces, attacked: for each case, one of a layer's
# files with a wrong #include added is checked against that layer's rules as
# the build writes them (<build>/layers/<layer>.cmake) by the build's own
# check (cmake/CheckLayer.cmake), which must refuse it with the file, the
# line and the rule. The layers' real files must pass, and an allowed include
# must stay allowed.
#   cmake -DBUILD_DIR=<build> -DSOURCE_DIR=<repo> -DWORK_DIR=<tmp> -P layers_test.cmake
cmake_minimum_required(VERSION 3.20)
set(check "${SOURCE_DIR}/cmake/CheckLayer.cmake")
set(failures 0)

# layer|file under bridge/|include line|expected in the error ("" = allowed)
set(cases
  "pipeline|pipeline/dedup.h|#include <librdkafka/rdkafkacpp.h>|the pipeline layer may not include <librdkafka/rdkafkacpp.h> (rdkafka)"
  "pipeline|pipeline/pipeline.cpp|#include <boost/beast/http.hpp>|the pipeline layer may not include <boost/beast/http.hpp> (boost)"
  "pipeline|pipeline/pipeline.cpp|#include <httplib.h>|the pipeline layer may not include <httplib.h> (httplib)"
  "pipeline|pipeline/pipeline.cpp|#include \"bridge/api/api_client.h\"|the pipeline layer may not include \"bridge/api/api_client.h\" (layer api)"
  "pipeline|pipeline/pipeline.cpp|#include \"bridge/providers/registry.h\"|the pipeline layer may not include \"bridge/providers/registry.h\" (layer registry)"
  "pipeline|pipeline/pipeline.cpp|#include \"bridge/kafka/topic_reader.h\"|the pipeline layer may not include \"bridge/kafka/topic_reader.h\" (layer kafka)"
  "pipeline|pipeline/pipeline.cpp|#include <bridge/kafka/rdkafka_publisher.h>|the pipeline layer may not include \"bridge/kafka/rdkafka_publisher.h\" (layer kafka)"
  "pipeline|pipeline/pipeline.cpp|#include \"tests/support/fake_clock.h\"|the pipeline layer may not include \"tests/support/fake_clock.h\" (outside bridge/)"
  "http|http/connection.cpp|#include <librdkafka/rdkafka.h>|the http layer may not include <librdkafka/rdkafka.h> (rdkafka)"
  "http|http/server.h|#include \"bridge/providers/provider.h\"|the http layer may not include \"bridge/providers/provider.h\" (layer providers)"
  "http|http/server.cpp|#include <bridge/config/config.h>|the http layer may not include \"bridge/config/config.h\" (layer config)"
  "config|config/load.cpp|#include \"bridge/kafka/rdkafka_publisher.h\"|the config layer may not include \"bridge/kafka/rdkafka_publisher.h\" (layer kafka)"
  "config|config/load.cpp|#include \"bridge/pipeline/pipeline.h\"|the config layer may not include \"bridge/pipeline/pipeline.h\" (layer pipeline)"
  "settings|kafka/settings.h|#include \"bridge/kafka/rdkafka_conf.h\"|the settings layer may not include \"bridge/kafka/rdkafka_conf.h\" (layer kafka)"
  "util|util/log.cpp|#include \"bridge/model/time.h\"|the util layer may not include \"bridge/model/time.h\" (layer model)"
  "api|api/api_client.cpp|#include \"bridge/providers/provider.h\"|the api layer may not include \"bridge/providers/provider.h\" (layer providers)"
  "providers|providers/calcom/webhook.cpp|#include \"bridge/api/api_client.h\"|the providers layer may not include \"bridge/api/api_client.h\" (layer api)"
  "main|main.cpp|#include <rapidjson/document.h>|the main layer may not include <rapidjson/document.h> (rapidjson)"
  "pipeline|pipeline/pipeline.cpp|#include \"bridge/model/event.h\"|"
  "kafka|kafka/topic_reader.cpp|#include \"bridge/settings/../util/log.h\"|the kafka layer may not include"
  "kafka|kafka/topic_reader.cpp|#include \"bridge/util/log.h\"|"
  "config|config/load.cpp|#include \"bridge/kafka/settings.h\"|")

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(n 0)
foreach(case IN LISTS cases)
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 layer)
  list(GET parts 1 path)
  list(GET parts 2 include)
  list(LENGTH parts count)
  set(expected "")
  if(count GREATER 3)
    list(GET parts 3 expected)
  endif()
  math(EXPR n "${n} + 1")
  get_filename_component(name "${path}" NAME)
  set(copy "${WORK_DIR}/${n}/${name}")
  file(READ "${SOURCE_DIR}/bridge/${path}" text)
  file(WRITE "${copy}" "${text}${include}\n")
  execute_process(
    COMMAND "${CMAKE_COMMAND}" "-DRULES=${BUILD_DIR}/layers/${layer}.cmake" "-DCHECK_FILES=${copy}" -P "${check}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(REGEX REPLACE "[ \t\r\n]+" " " flat "${out}")
  if(expected STREQUAL "")
    if(NOT rc EQUAL 0)
      message("FAIL: ${layer} refused an allowed ${include}:\n${out}")
      math(EXPR failures "${failures} + 1")
    else()
      message("ok: ${layer} may ${include}")
    endif()
  elseif(rc EQUAL 0 OR NOT flat MATCHES "${name}:[0-9]+: ")
    message("FAIL: ${layer} accepted ${include} in ${path}:\n${out}")
    math(EXPR failures "${failures} + 1")
  else()
    string(FIND "${flat}" "${expected}" at)
    if(at EQUAL -1)
      message("FAIL: ${layer} refused ${include} without saying \"${expected}\":\n${out}")
      math(EXPR failures "${failures} + 1")
    else()
      message("ok: ${layer} refuses ${include}")
    endif()
  endif()
endforeach()

# Every layer's own files pass.
file(GLOB rules "${BUILD_DIR}/layers/*.cmake")
list(LENGTH rules layers)
if(layers LESS 10)
  message("FAIL: only ${layers} layer rule files in ${BUILD_DIR}/layers")
  math(EXPR failures "${failures} + 1")
endif()
foreach(r IN LISTS rules)
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DRULES=${r}" -P "${check}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message("FAIL: ${r}:\n${out}")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} layering case(s) failed")
endif()
message("layering: ${n} cases and ${layers} layers checked")
