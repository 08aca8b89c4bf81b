# Checks the #include lines of one layer's files against what the layer may
# include. Run by the build before the layer's library is compiled (see
# Layers.cmake): a wrong include fails the build with the file, the line and
# the rule. Usage:
#   cmake -DRULES=<build>/layers/<layer>.cmake [-DSTAMP=file] -P CheckLayer.cmake
# where the rules file (written by Layers.cmake) sets
#   LAYER        the layer's name
#   FILES        its files
#   ALLOWED      the files of bridge/ it may include (bridge/...: its own and
#                those of the layers below it)
#   THIRD_PARTY  the third-party libraries it may include, by the names below
#   OWNER_<file> the layer that owns each file of bridge/ (for the errors)
# -DCHECK_FILES=a;b checks other files against a layer's rules instead.
#
# An include is `#include "..."` or `#include <...>` on one line; one split
# with a backslash or named by a macro is not seen (there is none in bridge/).
cmake_minimum_required(VERSION 3.20)
include("${RULES}")
if(DEFINED CHECK_FILES)
  set(FILES "${CHECK_FILES}")
endif()

# Third-party headers by library; any other <...> header is the standard
# library's or the operating system's.
set(_libraries boost httplib rdkafka openssl rapidjson yaml cli11 test)
set(_boost "^boost/")
set(_httplib "^httplib\\.h$")
set(_rdkafka "^(librdkafka/|rdkafka)")
set(_openssl "^openssl/")
set(_rapidjson "^rapidjson/")
set(_yaml "^yaml-cpp/")
set(_cli11 "^CLI")
set(_test "^(gtest|gmock|benchmark)/")

set(_errors "")
foreach(file IN LISTS FILES)
  file(STRINGS "${file}" _lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  file(READ "${file}" _content)
  foreach(line IN LISTS _lines)
    string(REGEX MATCH "[<\"]([^>\"]+)[>\"]" _m "${line}")
    set(header "${CMAKE_MATCH_1}")
    set(problem "")
    if(line MATCHES "\"" OR header MATCHES "^bridge/")
      # The repository's own headers, however they are written.
      if(NOT header MATCHES "^bridge/")
        set(problem "may not include \"${header}\" (outside bridge/)")
      elseif(NOT header IN_LIST ALLOWED)
        set(owner "${OWNER_${header}}")
        if(owner STREQUAL "")
          set(problem "may not include \"${header}\"")
        else()
          set(problem "may not include \"${header}\" (layer ${owner})")
        endif()
      endif()
    else()
      foreach(lib IN LISTS _libraries)
        if(header MATCHES "${_${lib}}" AND NOT lib IN_LIST THIRD_PARTY)
          set(problem "may not include <${header}> (${lib})")
        endif()
      endforeach()
    endif()
    if(problem)
      string(FIND "${_content}" "${line}" _at)
      string(SUBSTRING "${_content}" 0 ${_at} _before)
      string(REGEX MATCHALL "\n" _newlines "${_before}")
      list(LENGTH _newlines _number)
      math(EXPR _number "${_number} + 1")
      string(APPEND _errors "${file}:${_number}: the ${LAYER} layer ${problem}\n")
    endif()
  endforeach()
endforeach()

if(_errors)
  message(FATAL_ERROR "Layering (bridge/CMakeLists.txt says what each layer may include):\n${_errors}")
endif()
if(STAMP)
  file(TOUCH "${STAMP}")
endif()
