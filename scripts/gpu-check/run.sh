#!/usr/bin/env bash
# The GPU check, run on the GPU machine (CUDA PyTorch with its LibTorch, no Node, no network) from the
# repository's root, with gpu-carry/ carried along (scripts/gpu-check/pack.sh makes it here):
#
#   run tool: command "bash scripts/gpu-check/run.sh", carry ["gpu-carry"], timeout_s 600
#
# Phases, each time-boxed, all inside --budget seconds (default 540, under the device's 600 s a call):
#   unpack   node (gpu-carry/node.xz) to /tmp, node_modules/, dist/ and dist-tools/ (gpu-carry/bundle.tar.xz) into the repo
#   torch    python3's torch: version, CUDA, cuDNN, GPU name; its directory is the LibTorch to build against
#   build    cmake-js compile --out build with LIBTORCH=<torch dir> and the CUDA toolkit's paths; if CMake's
#            configure fails, a plain g++ build of native/*.cc against the same LibTorch (said so in the report)
#   export   resnet50, bert-base-cased and ViT-B-32::openai, full size, --random-init, with the carried
#            tokenizers (started in the background while the addon builds)
#   check    node dist-tools/bench/gpu.js check: device vs CPU encodes, bf16 vs fp32, loss falls, save/reload
#   tests    vitest: test/model.test.ts's CUDA case (skipped by CI, which has no GPU)
#   bench    node dist-tools/bench/gpu.js bench: training and encode throughput, bf16 and fp32 (TF32), MFU
#   report   $OUT/gpu-check.md and gpu-check.json (plus run.log, build.log, tests.log); exit 1 on a failure
#
# $OUT is where results go (the device tool brings it back); without it, ./gpu-check-out.
#
# --dry-run (here, on the CPU machine): copies the working tree and gpu-carry/ to a scratch directory, as
# the device tool would, and runs the same phases there on the CPU: Debian's python3 and LibTorch, the
# already built build/Release/finetuner.node (--build compiles it with cmake-js instead), tiny exports,
# small batches. It tests the flow and the bundle, in well under a minute.

set -uo pipefail

usage() {
  sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
usage: bash scripts/gpu-check/run.sh [--dry-run [--build] [--keep]] [--budget SECONDS] [--out DIR]
EOF
}

MODE=gpu
BUILD_IN_DRY_RUN=0
KEEP=0
BUDGET=540
OUT_DIR="${OUT:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) MODE=dry ;;
    --build) BUILD_IN_DRY_RUN=1 ;;
    --keep) KEEP=1 ;;
    --budget) BUDGET="$2"; shift ;;
    --out) OUT_DIR="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="${OUT_DIR:-$ROOT/gpu-check-out}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
CARRY="$ROOT/gpu-carry"

if [ ! -f "$CARRY/bundle.tar.xz" ] || [ ! -f "$CARRY/node.xz" ]; then
  echo "run.sh: $CARRY is incomplete (bundle.tar.xz, node.xz): run 'bash scripts/gpu-check/pack.sh' on the CPU machine and carry gpu-carry" >&2
  exit 2
fi

# --- dry run: stage a copy of what the device tool would send, then run this script there.
if [ "$MODE" = dry ] && [ -z "${FINETUNER_GPU_CHECK_STAGED:-}" ]; then
  STAGE="$(mktemp -d /tmp/finetuner-gpu-check-dry.XXXXXX)"
  echo "run.sh --dry-run: staging the working tree and gpu-carry/ in $STAGE"
  # Tracked and untracked-but-not-ignored files, as the device tool copies them (read-only git use).
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$ROOT" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$STAGE" -xf -
  cp -a "$CARRY" "$STAGE/gpu-carry"
  if [ "$BUILD_IN_DRY_RUN" = 0 ]; then
    if [ ! -f "$ROOT/build/Release/finetuner.node" ]; then
      echo "run.sh --dry-run: no build/Release/finetuner.node here; build it (npm run build:native) or pass --build" >&2
      exit 2
    fi
    mkdir -p "$STAGE/build/Release"
    cp -a "$ROOT/build/Release/finetuner.node" "$STAGE/build/Release/"
  fi
  args=(--dry-run --budget "$BUDGET" --out "$OUT_DIR")
  [ "$BUILD_IN_DRY_RUN" = 1 ] && args+=(--build)
  FINETUNER_GPU_CHECK_STAGED=1 FINETUNER_GPU_CHECK_WORK="$STAGE/.work" bash "$STAGE/scripts/gpu-check/run.sh" "${args[@]}"
  rc=$?
  if [ "$KEEP" = 1 ]; then echo "run.sh --dry-run: kept $STAGE"; else rm -rf "$STAGE"; fi
  exit $rc
fi

# --- from here on: the GPU machine, or the staged dry-run copy.
cd "$ROOT"
# This replaces node_modules/, dist/ and dist-tools/ with the bundle's: never in a development checkout.
for d in node_modules dist dist-tools; do
  if [ -d "$d" ] && [ ! -e "$d/.gpu-check-bundle" ] && [ -z "${FINETUNER_GPU_CHECK_STAGED:-}" ]; then
    echo "run.sh: $ROOT/$d exists and is not from gpu-carry: this looks like a development checkout, where run.sh" >&2
    echo "        would replace it. On the GPU machine the copy has no $d/; here, use --dry-run." >&2
    exit 2
  fi
done
WORK="${FINETUNER_GPU_CHECK_WORK:-/tmp/finetuner-gpu-check}"
rm -rf "$WORK"
mkdir -p "$WORK/models" "$WORK/node/bin"
PHASES="$WORK/phases.tsv"
: > "$PHASES"
rm -f "$OUT_DIR/gpu-check.md" "$OUT_DIR/gpu-check.json" "$OUT_DIR/build.log" "$OUT_DIR/tests.log"

main() { # (body not indented: it holds a heredoc)
START=$(date +%s)
RESERVE=15 # seconds kept for the report
elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET - $(elapsed) - RESERVE )); }
say() { printf '\n=== [%4ss] %s\n' "$(elapsed)" "$*"; }
# record PHASE STATUS SECONDS NOTE...
record() {
  local name="$1" status="$2" seconds="$3"
  shift 3
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$seconds" "$*" >> "$PHASES"
  echo "--- $name: $status (${seconds} s) $*"
}
# timebox CAP CMD...: runs CMD for at most CAP seconds, and never past the budget; 124 when it ran out.
timebox() {
  local cap="$1"
  shift
  local t
  t=$(left)
  [ "$cap" -lt "$t" ] && t="$cap"
  if [ "$t" -lt 5 ]; then
    echo "(no time left in the ${BUDGET} s budget)"
    return 124
  fi
  timeout --kill-after=10 "$t" "$@"
}
status_of() { # exit code -> PASS / FAIL / TIMEOUT
  case "$1" in 0) echo PASS ;; 124|137) echo TIMEOUT ;; *) echo FAIL ;; esac
}
finish() {
  say "report"
  if [ -x "$NODE" ] && [ -f dist-tools/bench/gpu.js ]; then
    "$NODE" dist-tools/bench/gpu.js report --work "$WORK" --out "$OUT_DIR"
    rc=$?
  else
    echo "no node or dist-tools/: phases were"
    cat "$PHASES"
    rc=1
  fi
  echo "run.sh: done in $(elapsed) s, exit $rc; results in $OUT_DIR"
  exit $rc
}

if [ "$MODE" = dry ]; then
  PY="${FINETUNER_PYTHON:-/usr/bin/python3}"
  SIZE_ARGS=(--size tiny)
  GPU_ARGS=(--device cpu --dry-run)
  echo "run.sh --dry-run: device cpu, tiny exports, python $PY, work dir $WORK"
else
  PY="$(command -v python3 || true)"
  SIZE_ARGS=()
  GPU_ARGS=(--device cuda)
fi
NODE="$WORK/node/bin/node"
export FINETUNER_PYTHON="$PY" # the exporter's interpreter, for exportModel() and the tests

# ------------------------------------------------------------------------------------------------ unpack
say "unpack node and the bundle"
t0=$(date +%s)
unpack_ok=1
xz_decompress() { # FILE > stdout, with xz or Python's lzma
  if command -v xz >/dev/null 2>&1; then xz -dc "$1"; else "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
if ! xz_decompress "$CARRY/node.xz" > "$NODE" || ! chmod +x "$NODE"; then unpack_ok=0; fi
# node_modules/, dist/ and dist-tools/ into the repository copy (all ignored by git, so absent there).
rm -rf node_modules dist dist-tools
if ! xz_decompress "$CARRY/bundle.tar.xz" | tar -xf -; then unpack_ok=0; fi
export PATH="$WORK/node/bin:$PATH"
if [ "$unpack_ok" = 1 ] && node_version=$("$NODE" --version) && "$NODE" -e "require('sharp'); require('node-gyp-build')"; then
  record unpack PASS $(( $(date +%s) - t0 )) "node $node_version, $(cat "$CARRY/MANIFEST.txt" 2>/dev/null | head -1)"
else
  record unpack FAIL $(( $(date +%s) - t0 )) "could not unpack or run node from gpu-carry (glibc too old? see run.log)"
  finish
fi

# ------------------------------------------------------------------------------------------------- torch
say "torch (python: ${PY:-none})"
t0=$(date +%s)
if [ -z "$PY" ]; then
  record torch FAIL 0 "no python3 on PATH"
  finish
fi
timebox 90 "$PY" - "$WORK/env.json" "$MODE" "$node_version" <<'EOF'
import glob, json, os, platform, shutil, subprocess, sys
out, mode, node = sys.argv[1], sys.argv[2], sys.argv[3]
import torch
torch_dir = os.path.dirname(torch.__file__)
env = {
    "dryRun": mode == "dry", "python": sys.executable, "pythonVersion": platform.python_version(),
    "torch": torch.__version__, "torchDir": torch_dir, "cmakePrefix": torch.utils.cmake_prefix_path,
    "cuda": torch.version.cuda, "cxx11Abi": int(bool(torch._C._GLIBCXX_USE_CXX11_ABI)),
    "cudaAvailable": torch.cuda.is_available(), "node": node, "cpus": os.cpu_count(),
}
try:
    env["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
except Exception:
    env["cudnn"] = None
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    env.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpuMemoryGiB=round(p.total_memory / 2**30, 1),
               gpuCount=torch.cuda.device_count())
    try:
        env["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                       capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
    except Exception:
        env["driver"] = None
# The CUDA pieces a CUDA LibTorch's CMake config looks for: nvcc and the toolkit, cuDNN, and the nvidia-*
# pip packages' library folders (torch's own libraries find them through their RUNPATH; node may not).
site = os.path.dirname(torch_dir)
nvidia_libs = sorted({os.path.dirname(p) for p in glob.glob(os.path.join(site, "nvidia", "**", "lib*.so*"), recursive=True)})
env["nvidiaLibDirs"] = nvidia_libs
nvcc = shutil.which("nvcc")
for cand in ["/usr/local/cuda/bin/nvcc", *sorted(glob.glob("/usr/local/cuda-*/bin/nvcc"), reverse=True),
             *glob.glob(os.path.join(site, "nvidia", "*", "bin", "nvcc")), *glob.glob(os.path.join(site, "nvidia", "cuda_nvcc", "bin", "nvcc"))]:
    if not nvcc and os.path.exists(cand):
        nvcc = cand
env["nvcc"] = nvcc
if nvcc:
    try:
        env["nvccVersion"] = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[-1]
    except Exception:
        env["nvccVersion"] = None
inc = glob.glob(os.path.join(site, "nvidia", "**", "include", "cudnn.h"), recursive=True) + glob.glob("/usr/include/cudnn.h") + glob.glob("/usr/local/cuda/include/cudnn.h")
lib = glob.glob(os.path.join(site, "nvidia", "**", "lib", "libcudnn.so*"), recursive=True) + glob.glob("/usr/lib/x86_64-linux-gnu/libcudnn.so*") + glob.glob("/usr/local/cuda/lib64/libcudnn.so*")
env["cudnnInclude"] = os.path.dirname(inc[0]) if inc else None
env["cudnnLibrary"] = sorted(lib, key=len)[0] if lib else None
json.dump(env, open(out, "w"), indent=2)
print(f"torch {env['torch']} at {torch_dir}; CUDA {env['cuda']} available={env['cudaAvailable']}; cuDNN {env['cudnn']}; "
      f"GPU {env.get('gpu')} (sm {env.get('capability')}, {env.get('gpuMemoryGiB')} GiB, driver {env.get('driver')}); "
      f"nvcc {env['nvcc']} ({env.get('nvccVersion')}); cuDNN headers {env['cudnnInclude']}, library {env['cudnnLibrary']}; "
      f"C++11 ABI {env['cxx11Abi']}")
EOF
rc=$?
if [ $rc -ne 0 ]; then
  record torch "$(status_of $rc)" $(( $(date +%s) - t0 )) "python3 could not import torch"
  finish
fi
jget() { "$PY" -c 'import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else (":".join(v) if isinstance(v, list) else v))' "$WORK/env.json" "$1"; }
TORCH_DIR=$(jget torchDir)
if [ "$MODE" = gpu ] && [ "$(jget cudaAvailable)" != True ]; then
  record torch FAIL $(( $(date +%s) - t0 )) "torch $(jget torch) sees no CUDA device (CUDA build: $(jget cuda)); nothing to check"
  finish
fi
if [ "$MODE" = gpu ]; then
  record torch PASS $(( $(date +%s) - t0 )) "torch $(jget torch), CUDA $(jget cuda), cuDNN $(jget cudnn), $(jget gpu), nvcc: $(jget nvcc)"
else
  record torch PASS $(( $(date +%s) - t0 )) "torch $(jget torch) (dry run: CPU)"
fi
if [ "$MODE" = gpu ]; then
  # torch's own libraries find the nvidia-* pip packages through their RUNPATH; cuDNN's and NVRTC's
  # dlopen()ed parts are found more reliably with the folders on the library path.
  NV_LIBS=$(jget nvidiaLibDirs)
  export LD_LIBRARY_PATH="$TORCH_DIR/lib${NV_LIBS:+:$NV_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# ------------------------------------------------------------------------------- export (in background)
say "export (background)"
export_one() { # DIRNAME NAME [ARGS...]
  local dir="$1" name="$2"
  shift 2
  timebox 240 "$PY" scripts/export_torchscript "$name" --out "$WORK/models/$dir" --random-init "${SIZE_ARGS[@]}" "$@" > "$WORK/export-$dir.log" 2>&1 < /dev/null
}
t_export=$(date +%s)
(
  export_one resnet50 resnet50 & p1=$!
  export_one bert-base-cased bert-base-cased --tokenizer "$CARRY/assets/bert-tokenizer.json" & p2=$!
  export_one ViT-B-32 'ViT-B-32::openai' --tokenizer "$CARRY/assets/clip-tokenizer.json" & p3=$!
  rc=0
  for p in $p1 $p2 $p3; do wait $p || rc=1; done
  exit $rc
) > "$WORK/export.log" 2>&1 & # not to run.log's pipe: tee would wait for it
EXPORT_PID=$!

# gxx_build TORCH_DIR VERSION CXX11_ABI "CUDA_LIBS" [STD]: native/*.cc compiled with g++ straight against a LibTorch
# folder (include/, lib/), the CUDA libraries linked with --no-as-needed (loading libtorch_cuda registers the
# CUDA backend; nothing references it by symbol). The addon has no CUDA code, so no toolkit is needed.
gxx_build() {
  local torch="$1" version="$2" abi="$3" cuda_libs="$4" std="${5:-c++17}"
  local flags=("-std=$std" -O2 -fPIC -fvisibility=hidden -fexceptions
    -I node_modules/node-api-headers/include -I node_modules/node-addon-api
    -I "$torch/include" -I "$torch/include/torch/csrc/api/include"
    -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
    "-DFINETUNER_TORCH_BUILD_VERSION=\"$version\"" "-D_GLIBCXX_USE_CXX11_ABI=$abi")
  rm -rf build/fallback
  mkdir -p build/fallback build/Release
  echo "g++ ${flags[*]} -c native/*.cc (in parallel), then -shared against $torch/lib"
  local f pids=() ok=1
  for f in native/*.cc; do
    timebox 240 g++ "${flags[@]}" -c "$f" -o "build/fallback/$(basename "$f" .cc).o" &
    pids+=($!)
  done
  for f in "${pids[@]}"; do wait "$f" || ok=0; done
  [ "$ok" = 1 ] || return 1
  local objs=(build/fallback/*.o)
  # shellcheck disable=SC2086
  timebox 120 g++ -shared -o build/Release/finetuner.node "${objs[@]}" -L"$torch/lib" "-Wl,-rpath,$torch/lib" \
    -Wl,--no-as-needed $cuda_libs -Wl,--as-needed -ltorch -ltorch_cpu -lc10
}

# ------------------------------------------------------------------------------------------------- build
say "build the addon"
t0=$(date +%s)
BUILD_LOG="$OUT_DIR/build.log"
: > "$BUILD_LOG"
build_note=""
if [ "$MODE" = dry ] && [ "$BUILD_IN_DRY_RUN" = 0 ]; then
  build_note="dry run: the build/Release/finetuner.node built here earlier (--build compiles it)"
  [ -f build/Release/finetuner.node ]
  rc=$?
else
  cmake_args=(compile --out build --parallel "$(nproc)")
  if [ "$MODE" = gpu ]; then
    export LIBTORCH="$TORCH_DIR"
    cap=$(jget capability)
    export TORCH_CUDA_ARCH_LIST="${cap:-9.0}"
    NVCC=$(jget nvcc)
    if [ -n "$NVCC" ]; then
      CUDA_ROOT="$(dirname "$(dirname "$NVCC")")"
      cmake_args+=("--CDCMAKE_CUDA_COMPILER=$NVCC" "--CDCUDAToolkit_ROOT=$CUDA_ROOT" "--CDCUDA_TOOLKIT_ROOT_DIR=$CUDA_ROOT"
                   "--CDCMAKE_CUDA_ARCHITECTURES=${TORCH_CUDA_ARCH_LIST/./}")
      export CUDA_HOME="$CUDA_ROOT" CUDACXX="$NVCC"
    else
      echo "note: no nvcc found (PATH, /usr/local/cuda*, nvidia pip packages). A CUDA LibTorch's CMake config (Caffe2/public/cuda.cmake)"
      echo "      enables the CUDA language and needs nvcc and the toolkit; if configure fails, the g++ fallback below runs."
    fi
    if [ -n "$(jget cudnnInclude)" ] && [ -n "$(jget cudnnLibrary)" ]; then
      cmake_args+=("--CDCAFFE2_USE_CUDNN=ON" "--CDCUDNN_INCLUDE_PATH=$(jget cudnnInclude)" "--CDCUDNN_LIBRARY_PATH=$(jget cudnnLibrary)")
    fi
  fi
  echo "LIBTORCH=${LIBTORCH:-} node node_modules/cmake-js/bin/cmake-js ${cmake_args[*]}"
  build_cap=300
  [ "$MODE" = dry ] && build_cap=1500 # 2 cores here, 16 there
  timebox "$build_cap" "$NODE" node_modules/cmake-js/bin/cmake-js "${cmake_args[@]}" >> "$BUILD_LOG" 2>&1
  rc=$?
  tail -n 15 "$BUILD_LOG"
  build_note="cmake-js compile against ${LIBTORCH:-the LibTorch CMakeLists finds}"
  if [ $rc -ne 0 ]; then
    echo "cmake-js failed (exit $rc). What the log says:"
    grep -n -m 12 -E "C\+\+20 or later|CUDA cannot be found|No CMAKE_CUDA_COMPILER|CUDAToolkit|Found two conflicting CUDA|cuDNN|nvToolsExt|nvtx|CMake Error|error:" "$BUILD_LOG" || true
    grep -q -E "C\+\+20 or later" "$BUILD_LOG" && echo "hint: this LibTorch needs C++20; CMakeLists.txt sets CMAKE_CXX_STANDARD 17"
    grep -q -E "CUDA cannot be found|No CMAKE_CUDA_COMPILER|Could NOT find CUDAToolkit" "$BUILD_LOG" &&
      echo "hint: torch's CMake config wants the CUDA toolkit: install/point -DCMAKE_CUDA_COMPILER / -DCUDAToolkit_ROOT (nvcc: ${NVCC:-none})"
    grep -q -E "uses cuDNN but I cannot find" "$BUILD_LOG" &&
      echo "hint: pass -DCAFFE2_USE_CUDNN=ON -DCUDNN_INCLUDE_PATH=... -DCUDNN_LIBRARY_PATH=... (the nvidia-cudnn pip package's folders)"
    if [ "$MODE" = gpu ] && [ "$(left)" -gt 150 ]; then
      # Fallback: the addon has no CUDA code, so a plain g++ build against the same LibTorch needs no
      # toolkit. libtorch_cuda is linked with --no-as-needed: it registers the CUDA backend when loaded.
      say "fallback: g++ build against $TORCH_DIR"
      version=$(jget torch)
      std=c++17
      grep -q -E "C\+\+20 or later" "$BUILD_LOG" && std=c++20 # newer LibTorch headers demand it
      gxx_build "$TORCH_DIR" "${version%%+*}" "$(jget cxx11Abi)" "-ltorch_cuda -lc10_cuda" "$std" >> "$BUILD_LOG" 2>&1
      rc=$?
      tail -n 5 "$BUILD_LOG"
      build_note="cmake-js FAILED (see build.log); built by the g++ fallback (-std=$std) against $TORCH_DIR"
      [ $rc -ne 0 ] && build_note="cmake-js and the g++ fallback both FAILED (see build.log)"
    fi
  fi
fi
if [ $rc -eq 0 ]; then
  # Loads, and on the GPU machine sees CUDA.
  info=$("$NODE" --input-type=module -e "import { runtimeInfo } from './dist/addonLoader.js'; const i = runtimeInfo(); console.log(JSON.stringify(i)); if ('$MODE' === 'gpu' && !i.cudaAvailable) process.exit(3);" 2>&1)
  rc=$?
  echo "$info"
  [ $rc -eq 3 ] && build_note="$build_note; the addon loads but LibTorch sees no CUDA (libtorch_cuda not loaded?)"
  [ $rc -ne 0 ] && [ $rc -ne 3 ] && build_note="$build_note; the addon does not load"
fi
record build "$(status_of $rc)" $(( $(date +%s) - t0 )) "$build_note"
if [ $rc -ne 0 ]; then
  kill "$EXPORT_PID" 2>/dev/null
  finish
fi

# ------------------------------------------------------------------------------------------- export: wait
say "export (waiting)"
wait "$EXPORT_PID" # each export is time-boxed
rc=$?
for f in "$WORK"/export-*.log; do tail -n 2 "$f"; done
record export "$(status_of $rc)" $(( $(date +%s) - t_export )) "resnet50, bert-base-cased, ViT-B-32::openai ${SIZE_ARGS[*]:-full size}, random init (in parallel with the build)"
[ $rc -ne 0 ] && finish

# ------------------------------------------------------------------------------------------------- check
say "checks"
t0=$(date +%s)
timebox 180 "$NODE" dist-tools/bench/gpu.js check --models "$WORK/models" --assets "$CARRY/assets" --work "$WORK" "${GPU_ARGS[@]}"
rc=$?
record check "$(status_of $rc)" $(( $(date +%s) - t0 )) "dist-tools/bench/gpu.js check (see Checks)"

# ------------------------------------------------------------------------------------------------- tests
say "vitest: the CUDA test of test/model.test.ts"
t0=$(date +%s)
TESTS_LOG="$OUT_DIR/tests.log"
timebox 150 "$NODE" node_modules/vitest/vitest.mjs run test/model.test.ts \
  -t 'encodes and trains on the GPU' --reporter=verbose --reporter=json --outputFile.json="$WORK/vitest.json" > "$TESTS_LOG" 2>&1
rc=$?
grep -E "✓|×|↓|Test Files|Tests " "$TESTS_LOG" | tail -n 8
state=$("$NODE" -e "
  const r = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
  const t = r.testResults.flatMap((f) => f.assertionResults).find((a) => /encodes and trains on the GPU/.test(a.title));
  console.log(t ? t.status : 'missing');" "$WORK/vitest.json" 2>/dev/null || echo unknown)
if [ "$MODE" = gpu ]; then
  [ "$state" = passed ] && [ $rc -eq 0 ] && status=PASS || status="$(status_of $((rc == 0 ? 1 : rc)))"
  note="CUDA test $state"
else
  # No GPU here: the CUDA test must be reported as skipped, and vitest must run from the bundle.
  { [ "$state" = skipped ] || [ "$state" = pending ]; } && [ $rc -eq 0 ] && status=PASS || status="$(status_of $((rc == 0 ? 1 : rc)))"
  note="dry run: CUDA test $state (no GPU), vitest ran from the bundle"
fi
record tests "$status" $(( $(date +%s) - t0 )) "$note"

# ------------------------------------------------------------------------------------------------- bench
say "bench"
t0=$(date +%s)
deadline=$(( $(left) - 20 ))
[ "$deadline" -gt 300 ] && deadline=300
if [ "$deadline" -lt 30 ]; then
  record bench TIMEOUT 0 "no time left for the bench"
else
  timebox $(( deadline + 60 )) "$NODE" dist-tools/bench/gpu.js bench --models "$WORK/models" --assets "$CARRY/assets" --work "$WORK" "${GPU_ARGS[@]}" --deadline-s "$deadline"
  rc=$?
  record bench "$(status_of $rc)" $(( $(date +%s) - t0 )) "dist-tools/bench/gpu.js bench, rows started within ${deadline} s (see Throughput)"
fi

finish
}

# Everything to the terminal and to $OUT/run.log.
main 2>&1 | tee "$OUT_DIR/run.log"
exit "${PIPESTATUS[0]}"
