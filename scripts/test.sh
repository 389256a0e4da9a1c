#!/usr/bin/env bash
# The test suite: every test file once (on wasm, and cpu where a file tests it), then the
# numerics files once more on each installed native backend (SYMTELE_TEST_BACKEND narrows them
# to it). A native backend that is not built is skipped with a line saying why, not a failure.
# Arguments replace the default file list of the first pass (e.g. scripts/test.sh test/ops/ops.test.ts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# the op table to 3rd order and gradcheck, the LSTM step's backward, the on-device inverse, the reference symmetry
# cases, the torch.optim fixtures, and the meta-training smoke run with resume
numerics=(test/ops/ops.test.ts test/nn/lstm.test.ts test/ops/near-identity.test.ts test/symmetry/toolkit.test.ts test/optim/optim.test.ts test/meta/meta.test.ts)
run() { node --import tsx --test --test-concurrency=1 "$@"; }

rc=0
# test files mirror src/ (test/<folder>/<module>.test.ts); the whole-repository ones sit at the top
shopt -s globstar
if [ $# -gt 0 ]; then run "$@" || rc=1; else run test/**/*.test.ts || rc=1; fi

for backend in tensorflow tensorflow-gpu; do
  status="$(node --input-type=module -e "
    const { probeBackend } = await import('./dist/backend/index.js');
    const r = await probeBackend('$backend');
    console.log(r.ok ? 'ok' : r.reason);
  " 2>/dev/null || echo "the probe failed")"
  if [ "$status" != ok ]; then
    echo "# skipping the numerics pass on $backend: ${status%%. *}"
    continue
  fi
  echo "# numerics on $backend: ${numerics[*]}"
  SYMTELE_TEST_BACKEND="$backend" run "${numerics[@]}" || rc=1
done
exit $rc
