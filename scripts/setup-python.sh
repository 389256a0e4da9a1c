#!/usr/bin/env bash
# Create the Python virtual environment used by the tests to read event files with the
# real TensorBoard reader. Idempotent: quick when `.venv` already has tensorboard.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import tensorboard' >/dev/null 2>&1; then
  echo "setup-python: $venv already has tensorboard"
  exit 0
fi

python3 -m venv "$venv"
pip=("$venv/bin/pip")

# pip's own index (env, then config, then PyPI) and its extra ones, as pip itself would take them.
index="${PIP_INDEX_URL:-$("${pip[@]}" config get global.index-url 2>/dev/null || echo https://pypi.org/simple)}"
extra="${PIP_EXTRA_INDEX_URL:-$("${pip[@]}" config get global.extra-index-url 2>/dev/null || true)}"
reachable() {
  "$venv/bin/python" - "$1" >/dev/null 2>&1 <<'PY'
import os, sys, urllib.parse, urllib.request
u = urllib.parse.urlparse(sys.argv[1])
if u.scheme == "file":
    sys.exit(0 if os.path.isdir(urllib.request.url2pathname(u.path)) else 1)
urllib.request.urlopen(sys.argv[1], timeout=5)
PY
}

# Where the index cannot be reached (a machine whose packages come from a local index), pip
# would retry it for every package and print a warning each time: ask only the reachable
# extra indexes instead (and the configured find-links, which pip keeps).
if ! reachable "$index"; then
  local_indexes=()
  for url in $extra; do reachable "$url" && local_indexes+=("$url"); done
  if [ "${#local_indexes[@]}" -eq 0 ]; then
    echo "setup-python: the package index $index cannot be reached and no other index is configured; install tensorboard into $venv by hand" >&2
    exit 1
  fi
  echo "setup-python: $index cannot be reached; installing from ${local_indexes[*]}"
  export PIP_INDEX_URL="${local_indexes[0]}" PIP_EXTRA_INDEX_URL="${local_indexes[*]:1}"
fi
# A local file index that lacks a package is normal (several indexes share the packages): drop
# pip's "Location ... is ignored" line for it and keep every other message.
"${pip[@]}" install --quiet tensorboard 2> >(grep -v "^WARNING: Location 'file://.*' is ignored: it is neither a file nor a directory\.$" >&2 || true)
"$venv/bin/python" -c 'import tensorboard; print("setup-python: tensorboard", tensorboard.__version__)'
