# Run at every build (cmake -P): fails when $LIBTORCH differs from its value at configure time, since
# `cmake-js compile` only builds and would otherwise keep the LibTorch chosen before. cmake-js compile
# answers a failed build with a full rebuild, which configures again and finds the new LibTorch.
if(NOT "$ENV{LIBTORCH}" STREQUAL "${FINETUNER_CONFIGURED_LIBTORCH}")
  message(FATAL_ERROR "finetuner: LIBTORCH is now '$ENV{LIBTORCH}' but was '${FINETUNER_CONFIGURED_LIBTORCH}' "
                      "when this build was configured; reconfigure (cmake-js rebuild)")
endif()
