# Finds LibTorch for finetuner, trying in this order and saying what it tried:
#   (a) $LIBTORCH: a LibTorch unzip dir (libtorch/) or a PyTorch site-packages/torch dir; its
#       share/cmake/Torch is used. A dir that holds TorchConfig.cmake itself works too.
#   (b) a PyTorch found through python3 (/usr/bin/python3, then python3 on PATH):
#       torch.utils.cmake_prefix_path/Torch. (Debian's python3-torch ships no CMake config: skipped.)
#   (c) the system: Torch_DIR or CMAKE_PREFIX_PATH if given, else the default prefixes
#       (Debian's libtorch-dev: /usr/lib/<arch>/cmake/Torch).
# A candidate counts when its TorchConfig.cmake exists; the first one is then loaded with
# find_package(Torch CONFIG REQUIRED), so a broken installation fails with Torch's own message.
#
# Sets: TORCH_LIBRARIES, TORCH_INCLUDE_DIRS (from TorchConfig), FINETUNER_TORCH_VERSION ("1.13.0"),
# FINETUNER_TORCH_LIBRARY_DIR (where libtorch.so is), FINETUNER_TORCH_RPATH (that dir, empty when it is
# a default linker dir), FINETUNER_TORCH_SOURCE (which of a/b/c, in words).

set(_ft_tried "")
set(_ft_torch_dir "")
set(FINETUNER_TORCH_SOURCE "")
# Torch_DIR given by the user (-DTorch_DIR=... / --CDTorch_DIR=...), not the one this file cached.
set(_ft_user_torch_dir "")
if(Torch_DIR AND NOT Torch_DIR STREQUAL "${_FINETUNER_CACHED_TORCH_DIR}")
  set(_ft_user_torch_dir "${Torch_DIR}")
endif()

# Returns in OUT the dir under ROOT that holds TorchConfig.cmake, or "".
function(_ft_torch_config_dir ROOT OUT)
  set(_dir "")
  foreach(_sub "share/cmake/Torch" "Torch")
    if(EXISTS "${ROOT}/${_sub}/TorchConfig.cmake")
      get_filename_component(_dir "${ROOT}/${_sub}" ABSOLUTE)
      break()
    endif()
  endforeach()
  set(${OUT} "${_dir}" PARENT_SCOPE)
endfunction()

# (a) $LIBTORCH
if(NOT "$ENV{LIBTORCH}" STREQUAL "")
  _ft_torch_config_dir("$ENV{LIBTORCH}" _ft_dir)
  if(_ft_dir)
    set(_ft_torch_dir "${_ft_dir}")
    set(FINETUNER_TORCH_SOURCE "LIBTORCH=$ENV{LIBTORCH}")
    message(STATUS "finetuner: LibTorch (a) $LIBTORCH: found ${_ft_dir}")
  else()
    list(APPEND _ft_tried "(a) LIBTORCH=$ENV{LIBTORCH}: no share/cmake/Torch/TorchConfig.cmake there")
    message(WARNING "finetuner: LIBTORCH=$ENV{LIBTORCH} has no share/cmake/Torch/TorchConfig.cmake; "
                    "trying python3 and the system instead")
  endif()
else()
  list(APPEND _ft_tried "(a) LIBTORCH: not set")
  message(STATUS "finetuner: LibTorch (a) $LIBTORCH: not set")
endif()

# (b) PyTorch through python3
if(NOT _ft_torch_dir)
  set(_ft_pythons "")
  if(EXISTS "/usr/bin/python3")
    list(APPEND _ft_pythons "/usr/bin/python3")
  endif()
  find_program(_ft_path_python3 NAMES python3 NO_CACHE)
  if(_ft_path_python3 AND NOT _ft_path_python3 STREQUAL "/usr/bin/python3")
    list(APPEND _ft_pythons "${_ft_path_python3}")
  endif()
  if(NOT _ft_pythons)
    list(APPEND _ft_tried "(b) python3: not found")
    message(STATUS "finetuner: LibTorch (b) python3: not found")
  endif()
  foreach(_ft_py IN LISTS _ft_pythons)
    execute_process(
      COMMAND "${_ft_py}" -c "import torch; print(torch.utils.cmake_prefix_path); print(torch.__version__)"
      OUTPUT_VARIABLE _ft_py_out
      ERROR_VARIABLE _ft_py_err
      RESULT_VARIABLE _ft_py_rc
      OUTPUT_STRIP_TRAILING_WHITESPACE
      TIMEOUT 120)
    if(NOT _ft_py_rc EQUAL 0)
      set(_ft_msg "(b) ${_ft_py}: no PyTorch (import torch failed)")
    else()
      string(REPLACE "\n" ";" _ft_py_lines "${_ft_py_out}")
      list(GET _ft_py_lines 0 _ft_prefix)
      list(GET _ft_py_lines -1 _ft_py_torch_version)
      _ft_torch_config_dir("${_ft_prefix}" _ft_dir)
      if(_ft_dir)
        set(_ft_torch_dir "${_ft_dir}")
        set(FINETUNER_TORCH_SOURCE "PyTorch ${_ft_py_torch_version} of ${_ft_py}")
        message(STATUS "finetuner: LibTorch (b) ${_ft_py}: torch ${_ft_py_torch_version}, found ${_ft_dir}")
        break()
      endif()
      set(_ft_msg "(b) ${_ft_py}: torch ${_ft_py_torch_version} has no ${_ft_prefix}/Torch/TorchConfig.cmake")
    endif()
    list(APPEND _ft_tried "${_ft_msg}")
    message(STATUS "finetuner: LibTorch ${_ft_msg}")
  endforeach()
endif()

# (c) the system
if(NOT _ft_torch_dir)
  set(_ft_roots "")
  if(_ft_user_torch_dir)
    get_filename_component(_ft_user_torch_parent "${_ft_user_torch_dir}" DIRECTORY)
    list(APPEND _ft_roots "${_ft_user_torch_parent}")
  endif()
  foreach(_ft_prefix IN LISTS CMAKE_PREFIX_PATH CMAKE_SYSTEM_PREFIX_PATH)
    if(CMAKE_LIBRARY_ARCHITECTURE)
      list(APPEND _ft_roots "${_ft_prefix}/lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake")
    endif()
    list(APPEND _ft_roots "${_ft_prefix}/lib/cmake" "${_ft_prefix}/lib64/cmake" "${_ft_prefix}/share/cmake"
                          "${_ft_prefix}")
  endforeach()
  list(REMOVE_DUPLICATES _ft_roots)
  foreach(_ft_root IN LISTS _ft_roots)
    _ft_torch_config_dir("${_ft_root}" _ft_dir)
    if(_ft_dir)
      set(_ft_torch_dir "${_ft_dir}")
      set(FINETUNER_TORCH_SOURCE "system (${_ft_dir})")
      message(STATUS "finetuner: LibTorch (c) system: found ${_ft_dir}")
      break()
    endif()
  endforeach()
  if(NOT _ft_torch_dir)
    set(_ft_prefixes ${CMAKE_PREFIX_PATH} ${CMAKE_SYSTEM_PREFIX_PATH})
    list(REMOVE_DUPLICATES _ft_prefixes)
    list(JOIN _ft_prefixes ", " _ft_prefixes)
    list(APPEND _ft_tried "(c) system: no cmake/Torch/TorchConfig.cmake under Torch_DIR or the prefixes ${_ft_prefixes}")
    message(STATUS "finetuner: LibTorch (c) system: not found")
  endif()
endif()

if(NOT _ft_torch_dir)
  list(JOIN _ft_tried "\n  " _ft_tried_text)
  message(FATAL_ERROR
    "finetuner: LibTorch not found. Tried:\n  ${_ft_tried_text}\n"
    "Fix one of:\n"
    "  (a) export LIBTORCH=/path/to/libtorch   (unzipped LibTorch from pytorch.org, or a pip PyTorch's site-packages/torch)\n"
    "  (b) pip install torch   (for a python3 on PATH; Debian's python3-torch has no CMake files)\n"
    "  (c) apt-get install -y libtorch-dev libopenblas0-pthread   (Debian 12 / Ubuntu)")
endif()

# Load exactly the chosen config. TorchConfig finds Caffe2 with find_package(... PATHS ../Caffe2) and
# c10/libtorch with find_library(... PATHS <prefix>/lib), and PATHS come after the system dirs: with
# libtorch-dev installed, a $LIBTORCH or pip build would silently link Debian's libraries. Putting the
# chosen prefix first in CMAKE_PREFIX_PATH and dropping cached results from an earlier choice avoids it.
if(NOT FINETUNER_TORCH_SOURCE MATCHES "^system")
  get_filename_component(_ft_torch_prefix "${_ft_torch_dir}/../../.." ABSOLUTE)
  list(PREPEND CMAKE_PREFIX_PATH "${_ft_torch_prefix}")
endif()
if(NOT _ft_torch_dir STREQUAL "${_FINETUNER_CACHED_TORCH_DIR}")
  unset(TORCH_LIBRARY CACHE)
  unset(c10_LIBRARY CACHE)
  unset(Caffe2_DIR CACHE)
endif()
if(EXISTS "${_ft_torch_dir}/../Caffe2/Caffe2Config.cmake")
  get_filename_component(_ft_caffe2_dir "${_ft_torch_dir}/../Caffe2" ABSOLUTE)
  set(Caffe2_DIR "${_ft_caffe2_dir}" CACHE PATH "Caffe2 CMake config next to the chosen Torch" FORCE)
endif()
set(Torch_DIR "${_ft_torch_dir}" CACHE PATH "Torch CMake config chosen by cmake/FinetunerLibTorch.cmake" FORCE)
set(_FINETUNER_CACHED_TORCH_DIR "${_ft_torch_dir}" CACHE INTERNAL "")
find_package(Torch CONFIG REQUIRED)

# The version: the headers' torch/version.h, else what TorchConfigVersion.cmake said.
set(FINETUNER_TORCH_VERSION "${Torch_VERSION}")
foreach(_ft_inc IN LISTS TORCH_INCLUDE_DIRS)
  foreach(_ft_header "${_ft_inc}/torch/version.h" "${_ft_inc}/torch/csrc/api/include/torch/version.h")
    if(EXISTS "${_ft_header}")
      file(STRINGS "${_ft_header}" _ft_version_lines REGEX "#define TORCH_VERSION_(MAJOR|MINOR|PATCH) ")
      set(_ft_parts "")
      foreach(_ft_part MAJOR MINOR PATCH)
        string(REGEX MATCH "TORCH_VERSION_${_ft_part} ([0-9]+)" _ft_m "${_ft_version_lines}")
        list(APPEND _ft_parts "${CMAKE_MATCH_1}")
      endforeach()
      list(JOIN _ft_parts "." _ft_header_version)
      if(_ft_header_version MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
        set(FINETUNER_TORCH_VERSION "${_ft_header_version}")
        break()
      endif()
    endif()
  endforeach()
  if(_ft_header_version MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
    break()
  endif()
endforeach()
if(NOT FINETUNER_TORCH_VERSION)
  set(FINETUNER_TORCH_VERSION "unknown")
endif()

# Where libtorch.so is, for the RPATH: the imported target's file. (TorchConfig's TORCH_LIBRARY comes
# from find_library, which searches the system before LibTorch's own lib/ dir, so it may name
# another copy.)
set(FINETUNER_TORCH_LIBRARY_DIR "")
if(TARGET torch)
  get_target_property(_ft_configs torch IMPORTED_CONFIGURATIONS)
  set(_ft_loc "")
  foreach(_ft_config IN LISTS _ft_configs)
    get_target_property(_ft_loc torch IMPORTED_LOCATION_${_ft_config})
    if(_ft_loc)
      break()
    endif()
  endforeach()
  if(NOT _ft_loc)
    get_target_property(_ft_loc torch IMPORTED_LOCATION)
  endif()
  if(_ft_loc)
    get_filename_component(FINETUNER_TORCH_LIBRARY_DIR "${_ft_loc}" DIRECTORY)
  endif()
endif()
if(NOT FINETUNER_TORCH_LIBRARY_DIR AND TORCH_LIBRARY)
  get_filename_component(FINETUNER_TORCH_LIBRARY_DIR "${TORCH_LIBRARY}" DIRECTORY)
endif()
set(FINETUNER_TORCH_RPATH "${FINETUNER_TORCH_LIBRARY_DIR}")
foreach(_ft_implicit IN LISTS CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES CMAKE_PLATFORM_IMPLICIT_LINK_DIRECTORIES)
  get_filename_component(_ft_implicit "${_ft_implicit}" REALPATH)
  get_filename_component(_ft_libdir_real "${FINETUNER_TORCH_LIBRARY_DIR}" REALPATH)
  if(_ft_implicit STREQUAL _ft_libdir_real)
    set(FINETUNER_TORCH_RPATH "")  # the dynamic loader searches it anyway
  endif()
endforeach()

if(FINETUNER_TORCH_RPATH)
  set(_ft_rpath_note "RPATH ${FINETUNER_TORCH_RPATH}")
else()
  set(_ft_rpath_note "no RPATH needed (a default linker dir)")
endif()
message(STATUS "finetuner: LibTorch ${FINETUNER_TORCH_VERSION} from ${FINETUNER_TORCH_SOURCE}; "
               "libraries in ${FINETUNER_TORCH_LIBRARY_DIR}, ${_ft_rpath_note}")
