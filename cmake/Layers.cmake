# schedbridge_layer(): one static library per layer of bridge/, whose
# includes the build checks before compiling it (CheckLayer.cmake).
#
#   schedbridge_layer(<name> [DIR <folder>] [FILES <files...>] [EXCLUDE <regex...>]
#                     SOURCES <files to compile...>
#                     LAYERS <lower layers it may include>
#                     HEADERS <generated headers it may include>
#                     THIRD_PARTY <libraries it may include: boost httplib
#                                  rdkafka openssl rapidjson yaml cli11>
#                     LINK <third-party targets to link>)
#
# A layer's files are FILES, or else every .h and .cpp under DIR (default:
# the folder named like the layer) that no earlier layer took and no EXCLUDE
# matches. A layer may include its own files, those of the layers it names
# and of every layer those may include, and nothing else of bridge/. A layer
# it names must be declared before it, so the layers form no cycle. The
# rules are written to <build>/layers/<name>.cmake, which the check and the
# test that injects wrong includes read; schedbridge_layers_done() writes
# which layer owns each file (<build>/layers/owners.cmake), for the errors.
set(SCHEDBRIDGE_CHECK_LAYER "${CMAKE_CURRENT_LIST_DIR}/CheckLayer.cmake")
set_property(GLOBAL PROPERTY SCHEDBRIDGE_LAYERS "")
set_property(GLOBAL PROPERTY SCHEDBRIDGE_TAKEN "")

function(schedbridge_layer name)
  cmake_parse_arguments(L "" "DIR" "FILES;EXCLUDE;SOURCES;LAYERS;HEADERS;THIRD_PARTY;LINK" ${ARGN})
  set(root "${CMAKE_CURRENT_SOURCE_DIR}")
  # Its files, as paths from the repository root (bridge/...).
  if(L_FILES)
    set(files ${L_FILES})
  else()
    if(NOT L_DIR)
      set(L_DIR "${name}")
    endif()
    file(GLOB_RECURSE files CONFIGURE_DEPENDS RELATIVE "${root}" "${root}/${L_DIR}/*.h" "${root}/${L_DIR}/*.cpp")
    get_property(taken GLOBAL PROPERTY SCHEDBRIDGE_TAKEN)
    foreach(f IN LISTS taken)
      list(REMOVE_ITEM files "${f}")
    endforeach()
    foreach(pattern IN LISTS L_EXCLUDE)
      list(FILTER files EXCLUDE REGEX "${pattern}")
    endforeach()
  endif()
  set_property(GLOBAL APPEND PROPERTY SCHEDBRIDGE_TAKEN ${files})
  set(own "")
  set(absolute "")
  foreach(f IN LISTS files)
    list(APPEND own "bridge/${f}")
    list(APPEND absolute "${root}/${f}")
  endforeach()
  set_property(GLOBAL PROPERTY SCHEDBRIDGE_FILES_${name} "${own}")
  set_property(GLOBAL APPEND PROPERTY SCHEDBRIDGE_LAYERS ${name})

  # What it may include: its own files and those of the layers below.
  set(closure ${L_LAYERS})
  foreach(dep IN LISTS L_LAYERS)
    get_property(declared GLOBAL PROPERTY SCHEDBRIDGE_BELOW_${dep} SET)
    if(NOT declared)
      message(FATAL_ERROR "layer ${name}: layer ${dep} must be declared before it")
    endif()
    get_property(below GLOBAL PROPERTY SCHEDBRIDGE_BELOW_${dep})
    list(APPEND closure ${below})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set_property(GLOBAL PROPERTY SCHEDBRIDGE_BELOW_${name} "${closure}")
  set(allowed ${own} ${L_HEADERS})
  foreach(dep IN LISTS closure)
    get_property(theirs GLOBAL PROPERTY SCHEDBRIDGE_FILES_${dep})
    list(APPEND allowed ${theirs})
  endforeach()

  set(rules "${CMAKE_BINARY_DIR}/layers/${name}.cmake")
  file(WRITE "${rules}"
       "set(LAYER \"${name}\")\nset(LAYERS \"${closure}\")\nset(ALLOWED \"${allowed}\")\n"
       "set(THIRD_PARTY \"${L_THIRD_PARTY}\")\nset(FILES \"${absolute}\")\n"
       "include(\"${CMAKE_BINARY_DIR}/layers/owners.cmake\" OPTIONAL)\n")
  set(stamp "${CMAKE_BINARY_DIR}/layers/${name}.stamp")
  add_custom_command(
    OUTPUT "${stamp}"
    COMMAND "${CMAKE_COMMAND}" "-DRULES=${rules}" "-DSTAMP=${stamp}" -P "${SCHEDBRIDGE_CHECK_LAYER}"
    DEPENDS ${absolute} "${rules}" "${SCHEDBRIDGE_CHECK_LAYER}"
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

# Which layer owns each file of bridge/, for the check's errors; every .h and
# .cpp of bridge/ must belong to a layer (so none escapes the check).
function(schedbridge_layers_done)
  get_property(layers GLOBAL PROPERTY SCHEDBRIDGE_LAYERS)
  get_property(taken GLOBAL PROPERTY SCHEDBRIDGE_TAKEN)
  file(GLOB_RECURSE all CONFIGURE_DEPENDS RELATIVE "${CMAKE_CURRENT_SOURCE_DIR}"
       "${CMAKE_CURRENT_SOURCE_DIR}/*.h" "${CMAKE_CURRENT_SOURCE_DIR}/*.cpp")
  foreach(f IN LISTS taken)
    list(REMOVE_ITEM all "${f}")
  endforeach()
  if(all)
    message(FATAL_ERROR "In no layer of bridge/CMakeLists.txt: ${all}")
  endif()
  set(text "")
  foreach(layer IN LISTS layers)
    get_property(files GLOBAL PROPERTY SCHEDBRIDGE_FILES_${layer})
    foreach(f IN LISTS files)
      string(APPEND text "set(\"OWNER_${f}\" ${layer})\n")
    endforeach()
  endforeach()
  file(WRITE "${CMAKE_BINARY_DIR}/layers/owners.cmake" "${text}")
endfunction()
