#!/usr/bin/env bash
# Build the optional native TensorFlow backend (@tensorflow/tfjs-node) offline.
#
# tfjs-node's own install script downloads libtensorflow; this script never runs it. Instead it
#  1. installs the pinned JavaScript packages (scripts/native/package-lock.json) into .native/
#     with --ignore-scripts, and drops their copies of @tensorflow/tfjs* so that they share the
#     project's (one tfjs engine, one kernel and gradient registry);
#  2. takes libtensorflow from the Python wheel tensorflow-cpu (given with --wheel, or fetched
#     with `pip download`, which works from a local package index): libtensorflow_cc.so.2 (it
#     exports the TF_ and TFE_ C API) and libtensorflow_framework.so.2 go to deps/lib under the
#     names binding.gyp links, the C API headers the binding includes go to deps/include;
#  3. builds the addon with npm's bundled node-gyp against the installed Node.js headers
#     (N-API 8, lib/napi-v8/tfjs_binding.node), and checks that it loads and computes.
# .native/ sits beside node_modules/, so `npm ci` (which empties node_modules/) keeps it.
# Idempotent: a second run with the same inputs only re-checks the build.
#
# Usage: scripts/setup-native.sh [--wheel PATH] [--gpu] [--force]
#   --wheel PATH  a tensorflow-cpu-2.21.0 wheel to take libtensorflow from (or SYMTELE_TF_WHEEL)
#   --gpu         also build @tensorflow/tfjs-node-gpu (backend tensorflow-gpu; with this CPU
#                 libtensorflow it computes on the CPU)
#   --force       rebuild even when the build is up to date
set -euo pipefail

TFJS_VERSION=4.22.0
TF_VERSION=2.21.0
NAPI_VERSION=8

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
native="$root/.native"
wheel="${SYMTELE_TF_WHEEL:-}"
gpu=0
force=0

die() { echo "setup-native: error: $*" >&2; exit 1; }
say() { echo "setup-native: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) [ $# -ge 2 ] || die "--wheel needs a path to a tensorflow-cpu-$TF_VERSION wheel"; wheel="$2"; shift 2 ;;
    --wheel=*) wheel="${1#--wheel=}"; shift ;;
    --gpu) gpu=1; shift ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument \"$1\" (expected --wheel PATH, --gpu or --force)" ;;
  esac
done

# ---- prerequisites, checked before any work
[ "$(uname -s)" = Linux ] || die "only Linux is supported (binding.gyp links the .so files here); on other systems use: npm install @tensorflow/tfjs-node@$TFJS_VERSION"
[ "$(uname -m)" = x86_64 ] || die "the tensorflow-cpu wheel this script uses is for x86_64, not $(uname -m)"
for tool in node npm python3 make g++; do
  command -v "$tool" >/dev/null || die "\"$tool\" is not on PATH (needed to build the addon)"
done
[ -d "$root/node_modules/@tensorflow/tfjs" ] || die "node_modules/@tensorflow/tfjs is missing: run \`npm ci\` first"
project_tfjs="$(node -p "require('$root/node_modules/@tensorflow/tfjs/package.json').version")"
[ "$project_tfjs" = "$TFJS_VERSION" ] || die "the project has @tensorflow/tfjs $project_tfjs, this script builds tfjs-node $TFJS_VERSION"
# node-gyp's --nodedir is Node's install prefix, the folder holding include/node/node_api.h
nodedir="$(cd "$(dirname "$(readlink -f "$(command -v node)")")/.." && pwd)"
[ -f "$nodedir/include/node/node_api.h" ] ||
  die "Node.js headers not found at $nodedir/include/node (install the package with Node's development headers)"
node_gyp="${npm_config_node_gyp:-}"
if [ -z "$node_gyp" ] || [ ! -f "$node_gyp" ]; then
  node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
fi
[ -f "$node_gyp" ] || die "npm's bundled node-gyp was not found (looked at $node_gyp)"
if [ -n "$wheel" ]; then
  [ -f "$wheel" ] || die "--wheel: no such file: $wheel"
  case "$(basename "$wheel")" in
    tensorflow_cpu-"$TF_VERSION"-*.whl|tensorflow-"$TF_VERSION"-*.whl) ;;
    *) die "--wheel: expected a tensorflow-cpu $TF_VERSION wheel (tensorflow_cpu-$TF_VERSION-*.whl), got $(basename "$wheel")" ;;
  esac
  wheel="$(readlink -f "$wheel")"
fi

packages=(tfjs-node)
[ "$gpu" = 1 ] && packages+=(tfjs-node-gpu)

# The stamp names every input of a build; an equal stamp and a working addon mean nothing to do.
stamp_of() {
  echo "tfjs-node=$TFJS_VERSION tensorflow=$TF_VERSION napi=$NAPI_VERSION node=$(node -p process.versions.modules) lock=$(cksum <"$root/scripts/native/package-lock.json" | cut -d' ' -f1)"
}

check_addon() { # $1: package folder name; prints the backend and a product on success
  (cd "$root" && TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0 node -e "
    const tf = require('./.native/node_modules/@tensorflow/$1');
    const y = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5], [6]])).dataSync();
    if (y[0] !== 17 || y[1] !== 39) throw new Error('wrong matMul result ' + y);
    console.log(tf.getBackend() + ' ok');
  " 2>&1)
}

all_built=1
for p in "${packages[@]}"; do
  pdir="$native/node_modules/@tensorflow/$p"
  if [ "$force" = 1 ] || [ ! -f "$pdir/.symtele-build" ] || [ "$(cat "$pdir/.symtele-build")" != "$(stamp_of)" ] ||
    ! check_addon "$p" >/dev/null; then
    all_built=0
  fi
done
if [ "$all_built" = 1 ]; then
  for p in "${packages[@]}"; do say "@tensorflow/$p is built and loads: $(check_addon "$p" | tail -1)"; done
  exit 0
fi

# ---- 1. JavaScript packages, pinned, without install scripts
mkdir -p "$native"
if ! cmp -s "$root/scripts/native/package-lock.json" "$native/package-lock.json" || [ ! -d "$native/node_modules/@tensorflow/tfjs-node" ]; then
  say "installing @tensorflow/tfjs-node(-gpu) $TFJS_VERSION into .native/ (install scripts off)"
  cp "$root/scripts/native/package.json" "$root/scripts/native/package-lock.json" "$native/"
  (cd "$native" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    die "npm ci in .native/ failed (the npm registry, or its local mirror, must be reachable)"
fi
# Share the project's tfjs: a second copy would re-register every kernel and gradient (and the
# project's gradient overrides with them) when tfjs-node loads.
for d in "$native"/node_modules/@tensorflow/tfjs "$native"/node_modules/@tensorflow/tfjs-*; do
  case "$(basename "$d")" in tfjs-node|tfjs-node-gpu) ;; *) rm -rf "$d" ;; esac
done

# ---- 2. libtensorflow and its C API headers from the wheel
if [ -z "$wheel" ]; then
  mkdir -p "$native/wheel"
  wheel="$(ls "$native"/wheel/tensorflow_cpu-"$TF_VERSION"-*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$wheel" ]; then
    say "downloading the tensorflow-cpu $TF_VERSION wheel with pip (about 270 MB)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$native/wheel" "tensorflow-cpu==$TF_VERSION" ||
      die "pip could not download tensorflow-cpu==$TF_VERSION; pass a wheel with --wheel PATH"
    wheel="$(ls "$native"/wheel/tensorflow_cpu-"$TF_VERSION"-*.whl | head -1)"
  fi
fi
say "taking libtensorflow from $(basename "$wheel")"
for p in "${packages[@]}"; do
  pdir="$native/node_modules/@tensorflow/$p"
  rm -rf "$pdir/deps" "$pdir/build" "$pdir/lib" "$pdir/.symtele-build"
  mkdir -p "$pdir/deps/lib" "$pdir/deps/include"
done
first="$native/node_modules/@tensorflow/${packages[0]}"
python3 - "$wheel" "$first/deps" "$first"/binding/* <<'EOF'
# Extract the two libraries and the headers the binding's sources include, transitively.
import os, re, sys, zipfile
wheel, deps, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
try:
    z = zipfile.ZipFile(wheel)
except zipfile.BadZipFile:
    sys.exit(f"setup-native: error: {wheel} is not a wheel (zip) file")
names = set(z.namelist())
inc = 'tensorflow/include/'
libs = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2']
missing = [n for n in libs + [inc + 'tensorflow/c/c_api.h', inc + 'tensorflow/c/eager/c_api.h'] if n not in names]
if missing:
    sys.exit(f"setup-native: error: {wheel} lacks {', '.join(missing)}")
for n in libs:
    with z.open(n) as src, open(f"{deps}/lib/{n.split('/')[-1]}", 'wb') as dst:
        while chunk := src.read(1 << 24):
            dst.write(chunk)
todo, seen = [h for f in sources for h in include.findall(open(f).read())], set()
while todo:
    h = todo.pop()
    if h in seen or inc + h not in names:  # the binding's own headers are not in the wheel
        continue
    seen.add(h)
    text = z.read(inc + h).decode()
    os.makedirs(os.path.dirname(f"{deps}/include/{h}"), exist_ok=True)
    open(f"{deps}/include/{h}", 'w').write(text)
    todo += include.findall(text)
print(f"setup-native: {len(seen)} C API headers, 2 libraries")
EOF
(
  cd "$first/deps/lib"
  # binding.gyp links -ltensorflow -ltensorflow_framework; the addon then records the sonames
  # (libtensorflow_cc.so.2, libtensorflow_framework.so.2), which the loader finds beside them.
  ln -sf libtensorflow_cc.so.2 libtensorflow.so
  ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so
)
for p in "${packages[@]:1}"; do # the GPU package links the same files
  pdir="$native/node_modules/@tensorflow/$p"
  cp -r "$first/deps/include/." "$pdir/deps/include/"
  for f in "$first"/deps/lib/*; do ln -sf "$(readlink -f "$f")" "$pdir/deps/lib/$(basename "$f")"; done
done

# ---- 3. the addon
for p in "${packages[@]}"; do
  pdir="$native/node_modules/@tensorflow/$p"
  say "building the @tensorflow/$p addon against the Node.js headers in $nodedir"
  (cd "$pdir" && node "$node_gyp" rebuild --loglevel=warn --nodedir="$nodedir" \
    --napi_build_version="$NAPI_VERSION" --module_name=tfjs_binding --module_path="$pdir/lib/napi-v$NAPI_VERSION" \
    >"$pdir/build.log" 2>&1) || { tail -30 "$pdir/build.log" >&2; die "node-gyp failed for @tensorflow/$p (log: $pdir/build.log)"; }
  [ -f "$pdir/lib/napi-v$NAPI_VERSION/tfjs_binding.node" ] || die "node-gyp did not produce lib/napi-v$NAPI_VERSION/tfjs_binding.node for @tensorflow/$p"
  rm -rf "$pdir/build/Release/obj.target"
  out="$(check_addon "$p")" || { echo "$out" >&2; die "the built @tensorflow/$p addon does not load"; }
  stamp_of >"$pdir/.symtele-build"
  say "@tensorflow/$p: $(echo "$out" | tail -1)"
done
if [ "$gpu" = 1 ]; then
  say "done; select them with --backend tensorflow / tensorflow-gpu (or SYMTELE_BACKEND)"
else
  say "done; select it with --backend tensorflow or SYMTELE_BACKEND=tensorflow"
fi
