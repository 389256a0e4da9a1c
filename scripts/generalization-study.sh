#!/usr/bin/env bash
# The generalization studies at the size that fits two shared cores, one step after the other
# (every step resumes or is skipped when its results exist):
#   1. Table 1: train the `correlation-reference` preset's models on MNIST and Fashion-MNIST
#      (checkpoints after epochs 4 and 40);
#   2. the metrics of both definitions (reference, paper) at epoch 40, recomputed from the checkpoints;
#   3. Figure 4 with the curve-mode psi teleport (`teleport-generalization-curve` preset), both datasets;
#   4. the metrics at epoch 4.
# Usage: scripts/generalization-study.sh [out-dir]   (default results/)
set -uo pipefail  # a failed step (e.g. a diverged run) does not stop the later ones
out=${1:-results}
corr() { node dist/cli/main.js run correlation --preset reference "$@"; }
metrics() {
  local ds=$1 e=$2 mode=$3
  local json="$out/correlation-$ds-$mode-epoch$e.json"
  [[ -f $json ]] || corr --dataset "$ds" --out "$out/correlation-$ds-reference" --metrics-only --metrics "$mode" --at-epoch "$e" --json "$json"
}
for ds in mnist fashion-mnist; do
  corr --dataset "$ds" --out "$out/correlation-$ds-reference" --resume --train-only
done
for ds in mnist fashion-mnist; do for mode in reference paper; do metrics "$ds" 40 "$mode"; done; done
for ds in mnist fashion-mnist; do
  dir="$out/teleport-generalization-$ds-curve"
  [[ -f $dir/results.json ]] || node dist/cli/main.js run teleport-generalization --preset curve --dataset "$ds" --out "$dir"
done
for ds in mnist fashion-mnist; do for mode in reference paper; do metrics "$ds" 4 "$mode"; done; done
