#!/usr/bin/env bash
# Idempotent setup run before `npm test`, `npm run demo` and `npm run bench`: Debian packages, `npm ci`,
# the TypeScript build and the native build, each only when missing or out of date. Prints one line per
# step it runs and nothing when all is up to date (a few dozen milliseconds). Works in a fresh clone on
# a fresh Debian 12 machine as root (what CI does); as another user it prints the sudo command to run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# make: cmake-js generates Makefiles when ninja is absent, and --no-install-recommends skips cmake's make.
DEBIAN_PACKAGES=(libtorch-dev libopenblas0-pthread python3-torch python3-torchvision dataset-fashion-mnist cmake g++ make)

say() { printf 'setup: %s\n' "$*"; }

# 1. Debian packages.
if command -v dpkg-query >/dev/null 2>&1; then
  # One dpkg-query for all; it prints nothing for a package it has never heard of.
  installed=" $(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${DEBIAN_PACKAGES[@]}" 2>/dev/null \
    | awk '$2 == "installed" { printf "%s ", $1 }') "
  missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    [[ "$installed" == *" $pkg "* ]] || missing+=("$pkg")
  done
  if (( ${#missing[@]} )); then
    if (( EUID == 0 )); then
      say "installing Debian packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      say "missing Debian packages: ${missing[*]}. Run:"
      echo "  sudo apt-get install -y ${missing[*]}"
      exit 1
    fi
  fi
else
  say "not a Debian system: skipping packages (needs LibTorch, cmake, g++, /usr/bin/python3 with torch and torchvision)"
fi

# 2. npm dependencies. npm rewrites node_modules/.package-lock.json at the end of every install.
if [[ ! -d node_modules || ! -e node_modules/.package-lock.json || node_modules/.package-lock.json -ot package-lock.json ]]; then
  say "npm ci (node_modules missing or older than package-lock.json)"
  npm ci --no-audit --no-fund --foreground-scripts
  touch node_modules/.package-lock.json
fi

# 3. TypeScript: lib/**/*.ts -> dist/. The stamp is written only after a clean tsc.
ts_stamp=dist/.setup-tsc-stamp
if [[ ! -e "$ts_stamp" ]] || [[ -n "$(find lib tsconfig.json package.json -newer "$ts_stamp" \( -name '*.ts' -o -name '*.json' \) -print -quit)" ]]; then
  say "TypeScript build (npx tsc: lib/ -> dist/)"
  npx tsc -p tsconfig.json
  touch "$ts_stamp"
fi

# 4. Native addon: build/Release/finetuner.node from native/, CMakeLists.txt and cmake/.
addon=build/Release/finetuner.node
if [[ -d native ]] && compgen -G 'native/*.cc' >/dev/null; then
  if [[ ! -e "$addon" ]] || [[ -n "$(find native cmake CMakeLists.txt -newer "$addon" -print -quit 2>/dev/null)" ]]; then
    say "native build (cmake-js compile: native/ -> $addon)"
    node node_modules/cmake-js/bin/cmake-js compile --out build --log-level warn \
      --parallel "$(nproc 2>/dev/null || echo 2)"
    touch "$addon"  # a no-op relink leaves the old mtime; this keeps the check above quiet next time
  fi
fi
