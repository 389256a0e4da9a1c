#!/usr/bin/env bash
# Figure 5's cost, side by side in one run: the reference protocol in PyTorch (torch threads 1
# and 2) and `symtele run optimizers-mnist` (tfjs wasm), one model, 5,000 MNIST samples (250
# steps of 20), one epoch without and one with the 8 teleports of the reference schedule.
# Writes <out>/bench-*.json and prints seconds per epoch and per teleport.
#   bash scripts/bench_fig5.sh docs/optimizers/bench
set -euo pipefail
out=${1:?usage: bench_fig5.sh OUTDIR}
mkdir -p "$out"
# PyTorch's best BLAS set-up: no forced core type or cache size
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for th in 1 2; do
  /usr/bin/python3 scripts/reference_fig5.py --optimizers momentum --arms none teleport-exact --epochs 1 --train-size 5000 \
    --runs 1 --threads "$th" --out "$out/bench-torch-threads$th.json" > /dev/null
done
cfg=$(mktemp --suffix .json)
cat > "$cfg" <<JSON
{ "out": "$out/bench-symtele", "data": { "name": "mnist", "trainSize": 5000, "testSize": 1000 }, "epochs": 1, "runs": 1,
  "arms": ["none", "teleport-reset"], "tableEpochs": [1],
  "optimizers": [ { "optimizer": { "name": "momentum", "lr": 1e-3, "momentum": 0.9 } } ] }
JSON
node dist/cli/main.js run optimizers-mnist --config "$cfg" > /dev/null 2>&1
rm -f "$cfg"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for th in (1, 2):
    r = json.load(open(f'{out}/bench-torch-threads{th}.json'))['optimizers']['momentum']['arms']
    e = r['none'][0]['epochSeconds'][0]
    t = r['teleport-exact'][0]['teleportSeconds'] / 8
    print(f'pytorch threads {th}: {e:.2f} s per 250-step epoch, {t:.3f} s per teleport (10 steps on 200 samples)')
s = json.load(open(f'{out}/bench-symtele/results.json'))['optimizers'][0]['arms']
none = s[0]['runs'][0]['epochSeconds'][0]
tele = s[1]['runs'][0]['teleportSeconds'] / 8
print(f'symtele (tfjs wasm, 1 thread): {none:.2f} s per 250-step epoch (lockstep of 2 models, per model), {tele:.3f} s per teleport')
PY
