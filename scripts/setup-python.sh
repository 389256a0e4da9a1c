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
# few retries: where only a local package index is reachable, each retry of the public one only waits
"$venv/bin/pip" install --quiet --retries 1 tensorboard
"$venv/bin/python" -c 'import tensorboard; print("setup-python: tensorboard", tensorboard.__version__)'
