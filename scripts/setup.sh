#!/usr/bin/env bash
# Idempotent setup run before `npm test`, `npm run demo` and `npm run bench`: Debian packages, `npm ci`,
# the TypeScript builds (library, then tools) and the native build, each only when missing or out of
# date. Prints one line per step it runs and nothing when all is up to date (a few dozen milliseconds).
# Works in a fresh clone on a fresh Debian 12 machine as root (what CI does); as another user it prints
# the sudo command to run. Every failure ends with one line `setup: FAILED: <step>: <how to fix>` and a
# non-zero exit, never a silent one (test/setup.test.ts runs this script with dpkg-query and apt-get
# stubbed as on a new machine).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# make: cmake-js generates Makefiles when ninja is absent, and --no-install-recommends skips cmake's make.
# python3-scipy, -sklearn, -tqdm: pytorch-metric-learning (shared/reference) runs as the tests' oracle for
# losses and miners; chromium: the tests open report.html in it. libgloo-dev: the headers that c10d's
# ProcessGroupGloo includes (distributed training; the library itself is in libtorch's dependencies).
DEBIAN_PACKAGES=(libtorch-dev libopenblas0-pthread libgloo-dev python3-torch python3-torchvision dataset-fashion-mnist cmake g++ make
  python3-scipy python3-sklearn python3-tqdm chromium)

say() { printf 'setup: %s\n' "$*"; }
step='starting'
fix='see the output above'
fail() { say "FAILED: $step: $fix"; exit 1; }
# Any command that fails under `set -e` lands here, so no failure is silent.
trap 'rc=$?; say "FAILED: $step (exit $rc): $fix"; exit $rc' ERR
log=$(mktemp "${TMPDIR:-/tmp}/finetuner-setup.XXXXXX")
trap 'rm -f "$log"' EXIT
# Runs a noisy command quietly; on failure shows its last lines, then the one-line verdict.
quiet() {
  if ! "$@" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    fail
  fi
}

# 1. Debian packages.
step='Debian packages'
if command -v dpkg-query >/dev/null 2>&1; then
  # One dpkg-query for all. It exits 1 when any package is unknown to dpkg (never installed on this
  # machine) and prints nothing for that one: that is the normal state of a new machine, not an error.
  installed=" $( { dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${DEBIAN_PACKAGES[@]}" 2>/dev/null || true; } \
    | awk '$2 == "installed" { printf "%s ", $1 }') "
  missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    [[ "$installed" == *" $pkg "* ]] || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    if [[ "$(id -u)" == 0 ]]; then
      say "installing Debian packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      step='apt-get update'
      fix='check the network and /etc/apt/sources.list, then run the command again'
      quiet apt-get update -qq
      step="apt-get install ${missing[*]}"
      fix="run 'apt-get install -y --no-install-recommends ${missing[*]}' to see why, then run the command again"
      quiet apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
      say "missing Debian packages: ${missing[*]}. Run:"
      echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
      fix='install the packages above as root, then run the command again'
      fail
    fi
  fi
else
  say "not a Debian system: skipping packages (needs LibTorch, cmake, g++, /usr/bin/python3 with torch and torchvision)"
fi

# 2. npm dependencies. npm rewrites node_modules/.package-lock.json at the end of every install.
step='npm ci'
fix='check access to the npm registry and that package-lock.json matches package.json, then run the command again'
if [[ ! -d node_modules || ! -e node_modules/.package-lock.json || node_modules/.package-lock.json -ot package-lock.json ]]; then
  say "npm ci (node_modules missing or older than package-lock.json)"
  npm ci --no-audit --no-fund --foreground-scripts
  touch node_modules/.package-lock.json
fi

# 3. TypeScript, each build only when a source is newer than its stamp (written only after a clean tsc):
#    the library, lib/ -> dist/ (published), then the tools that are not published, bench/ and examples/
#    with the lib/ they import -> dist-tools/ (tsconfig.tools.json; `npm run bench`, `npm run demo`).
#    The output folder is emptied first: tsc leaves the output of a moved or deleted source behind, and
#    everything in dist/ is published.
step='TypeScript build'
ts_build() { # CONFIG OUTDIR WHAT INPUTS...
  local config="$1" outdir="$2" what="$3"
  local stamp="$outdir/.setup-tsc-stamp"
  shift 3
  fix="fix the type errors printed above (npx tsc -p $config)"
  if [[ ! -e "$stamp" ]] || [[ -n "$(find "$@" -newer "$stamp" \( -name '*.ts' -o -name '*.json' \) -print -quit)" ]]; then
    say "TypeScript build (npx tsc -p $config: $what)"
    rm -rf "$outdir"
    npx tsc -p "$config"
    touch "$stamp"
  fi
}
ts_build tsconfig.json dist 'lib/ -> dist/' lib tsconfig.json package.json
if [[ -e tsconfig.tools.json ]]; then
  ts_build tsconfig.tools.json dist-tools 'lib/, bench/, examples/ -> dist-tools/' \
    lib bench examples tsconfig.json tsconfig.tools.json package.json
fi

# 4. Native addon: build/Release/finetuner.node from native/, CMakeLists.txt and cmake/.
step='native build'
fix='read the compiler or CMake error above; LibTorch comes from $LIBTORCH, python3 torch or Debian libtorch-dev'
addon=build/Release/finetuner.node
if [[ -d native ]] && compgen -G 'native/*.cc' >/dev/null; then
  if [[ ! -e "$addon" ]] || [[ -n "$(find native cmake CMakeLists.txt -newer "$addon" -print -quit 2>/dev/null)" ]]; then
    say "native build (cmake-js compile: native/ -> $addon)"
    started=$(mktemp "${TMPDIR:-/tmp}/finetuner-build-start.XXXXXX")
    node node_modules/cmake-js/bin/cmake-js compile --out build --log-level warn \
      --parallel "$(nproc 2>/dev/null || echo 2)"
    # A no-op relink leaves the old mtime, so the addon is stamped; with the build's start time, not now,
    # so a source edited while it compiled still counts as newer and is built next time.
    touch -r "$started" "$addon"
    rm -f "$started"
  fi
fi
