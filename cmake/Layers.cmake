# schedbridge_layer(): one static library per folder of bridge/, whose
# includes the build checks before compiling it (CheckLayer.cmake).
#
#   schedbridge_layer(<name> SOURCES <files...>
#                     LAYERS <lower layers it may include>
#                     HEADERS <single headers of other layers it may include>
#                     THIRD_PARTY <libraries it may include: boost httplib
#                                  rdkafka openssl rapidjson yaml cli11>
#                     LINK <targets to link>)
#
# A layer may include its own folder, the layers it names and every layer
# those may include. A layer it names must be declared before it, so the
# layers form no cycle. The rules are also written to
# <build>/layers/<name>.cmake for the test that injects wrong includes.
set(SCHEDBRIDGE_CHECK_LAYER "${CMAKE_CURRENT_LIST_DIR}/CheckLayer.cmake")

function(schedbridge_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;LAYERS;HEADERS;THIRD_PARTY;LINK" ${ARGN})
  set(closure ${L_LAYERS})
  foreach(dep IN LISTS L_LAYERS)
    get_property(declared GLOBAL PROPERTY SCHEDBRIDGE_LAYER_${dep} DEFINED)
    if(NOT declared)
      message(FATAL_ERROR "layer ${name}: layer ${dep} must be declared before it")
    endif()
    get_property(below GLOBAL PROPERTY SCHEDBRIDGE_LAYER_${dep})
    list(APPEND closure ${below})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  define_property(GLOBAL PROPERTY SCHEDBRIDGE_LAYER_${name} BRIEF_DOCS "layer" FULL_DOCS "layer")
  set_property(GLOBAL PROPERTY SCHEDBRIDGE_LAYER_${name} "${closure}")

  file(GLOB_RECURSE files CONFIGURE_DEPENDS
       "${CMAKE_CURRENT_SOURCE_DIR}/${name}/*.h" "${CMAKE_CURRENT_SOURCE_DIR}/${name}/*.cpp")
  set(rules "${CMAKE_BINARY_DIR}/layers/${name}.cmake")
  file(WRITE "${rules}"
       "set(LAYER \"${name}\")\nset(LAYERS \"${closure}\")\nset(HEADERS \"${L_HEADERS}\")\n"
       "set(THIRD_PARTY \"${L_THIRD_PARTY}\")\nset(FILES \"${files}\")\n")
  set(stamp "${CMAKE_BINARY_DIR}/layers/${name}.stamp")
  add_custom_command(
    OUTPUT "${stamp}"
    COMMAND "${CMAKE_COMMAND}" "-DRULES=${rules}" "-DSTAMP=${stamp}" -P "${SCHEDBRIDGE_CHECK_LAYER}"
    DEPENDS ${files} "${rules}" "${SCHEDBRIDGE_CHECK_LAYER}"
    COMMENT "Checking the includes of the ${name} layer"
    VERBATIM)
  add_custom_target(schedbridge_${name}_includes DEPENDS "${stamp}")

  set(deps "")
  foreach(dep IN LISTS L_LAYERS)
    list(APPEND deps schedbridge_${dep})
  endforeach()
  if(L_SOURCES)
    add_library(schedbridge_${name} STATIC ${L_SOURCES})
    target_link_libraries(schedbridge_${name} PUBLIC schedbridge_base ${deps} ${L_LINK})
  else()
    add_library(schedbridge_${name} INTERFACE)
    target_link_libraries(schedbridge_${name} INTERFACE schedbridge_base ${deps} ${L_LINK})
  endif()
  add_dependencies(schedbridge_${name} schedbridge_${name}_includes)
endfunction()
