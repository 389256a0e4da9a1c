#!/usr/bin/env bash
# The paper-size runs of Figures 5/13, Table 1 and Figure 4 (the paper's claims at the
# paper's scale), in two lanes, one per core, each a list of steps run one after the other.
# Every step resumes where a killed run stopped (per epoch for Figures 5 and 4, per model for
# Table 1) and is skipped once its results exist, so the same command continues the work over
# as many sessions as it takes. Run it in the background; it writes into <out-dir>:
#   fig5-<dataset>-<optimizer>/   optimizers-mnist --preset full, one optimizer, 5 arms x 5 runs
#   correlation-<dataset>-full/   Table 1: 100 models x 40 epochs, both metric modes at epoch 40
#   fig4-<dataset>-<mode>-seed<s>/ Figure 4: 5 runs, teleport at epoch 20 of 40; seeds 0 and 1
# Usage: scripts/paper-size.sh [out-dir] [lane]   (default results/paper-size, both lanes)
#        DRY=1 scripts/paper-size.sh ...           prints the steps without running them
set -uo pipefail # a failed step (a diverged run) does not stop the later ones
out=${1:-results/paper-size}
lanes=${2:-"1 2"}
cli() { if [[ -n ${DRY:-} ]]; then echo "symtele $*"; else nice -n 19 node dist/cli/main.js "$@"; fi; }
mkdir -p "$out"

# one optimizer of Figure 5 on a dataset: the full preset narrowed by a config written here
fig5() {
  local ds=$1 opt=$2 dir="$out/fig5-$1-$2"
  # no skip on results.json (--report-only writes one for a partial run): a finished optimizer
  # is reused by the command itself, which then only rewrites the report
  mkdir -p "$dir"
  node -e '
    const fs = require("fs");
    const full = JSON.parse(fs.readFileSync("experiments/optimizers-mnist-full.json", "utf8"));
    const [ds, opt, file] = process.argv.slice(1);
    const cfg = { data: { ...full.data, name: ds }, optimizers: full.optimizers.filter((o) => o.optimizer.name === opt) };
    fs.writeFileSync(file, JSON.stringify(cfg, null, 1));
  ' "$ds" "$opt" "$dir/config.json"
  cli run optimizers-mnist --preset full --config "$dir/config.json" --out "$dir"
}

table1() {
  local ds=$1 dir="$out/correlation-$1-full"
  cli run correlation --preset full --dataset "$ds" --out "$dir" --resume --train-only
  for mode in paper reference; do
    [[ -f $dir/r-$mode-epoch40.json ]] || cli run correlation --preset full --dataset "$ds" --out "$dir" --metrics-only --metrics "$mode" --json "$dir/r-$mode-epoch40.json"
  done
}

# Figure 4 on a dataset and seed: all five arms, phi by ascent (ours, after the paper's text) and
# psi by the reference's curve steps, on the reference's MNIST/Fashion-MNIST network
# (784-16-10-10); phi over 100 directions (the reference's count; the paper gives none for
# Figure 4, our preset's 200 is Table 1's), curve steps bounded to ||tM||_F <= 0.1 (unbounded
# ones diverge). Then psi by ascent (ours, the paper's text: 1 group step per batch) from a copy
# of the same first 20 epochs.
fig4() {
  local ds=$1 seed=$2 dir="$out/fig4-$1-curve-seed$2" asc="$out/fig4-$1-ascent-seed$2"
  mkdir -p "$dir" "$asc"
  if [[ ! -f $dir/results.json ]]; then
    echo "{\"seed\": $seed, \"dims\": [784, 16, 10, 10], \"teleport\": {\"curvatureMode\": \"curve\", \"curveStepNorm\": 0.1, \"sharpness\": {\"directions\": 100}}}" > "$dir/config.json"
    cli run teleport-generalization --preset full --dataset "$ds" --config "$dir/config.json" --out "$dir"
  fi
  [[ -f $asc/results.json ]] && return
  echo "{\"seed\": $seed, \"dims\": [784, 16, 10, 10], \"arms\": [\"none\", \"curvature-up\", \"curvature-down\"], \"teleport\": {\"curvatureMode\": \"ascent\"}}" > "$asc/config.json"
  [[ -d $asc/before-teleport.lockstep || -n ${DRY:-} ]] || cp -r "$dir/before-teleport.lockstep" "$asc/"
  cli run teleport-generalization --preset full --dataset "$ds" --config "$asc/config.json" --out "$asc"
}

lane1() {
  fig5 mnist momentum; fig5 mnist rmsprop; fig5 fashion-mnist momentum; fig5 fashion-mnist rmsprop
  table1 mnist; fig4 mnist 0; fig4 mnist 1
}
lane2() {
  fig5 mnist adagrad; fig5 mnist adam; fig5 fashion-mnist adagrad; fig5 fashion-mnist adam
  table1 fashion-mnist; fig4 fashion-mnist 0; fig4 fashion-mnist 1
}
for l in $lanes; do "lane$l" & done
wait
