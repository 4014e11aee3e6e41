#!/usr/bin/env bash
# Trains (or, after an interruption, resumes) a reference model and exports it to models/<name>.
#   scripts/train_ref.sh ref-s [extra pretrain options...]
#   scripts/train_ref.sh ref-m --init models/ref-m      (a new run starting from the committed weights)
#   scripts/train_ref.sh --carry ref-m                  (export the run's checkpoint to models/<name>-run)
# The run folder $CTCDRAFTER_RUNS/<name> (default out/runs, ignored by git; put it outside the work tree when the
# work tree may be laid anew) keeps the checkpoint; rerunning the script continues from it. Write a number into
# <run folder>/threads to change the run's libtorch threads before its next step.
# A run that outlives its machine is carried in the repository: --carry writes models/<name>-run (the weights and
# training_state.json, no optimizer state); on a machine without the run folder the script continues from it, and
# removes it once the model is exported.
set -euo pipefail
carry=false
if [[ "${1:-}" == "--carry" ]]; then carry=true; shift; fi
name="${1:?usage: scripts/train_ref.sh [--carry] ref-s|ref-m [pretrain options...]}"
shift
cd "$(dirname "$0")/.."
runs="${CTCDRAFTER_RUNS:-out/runs}"
carried="models/$name-run"
# A private copy of the tool, so that rebuilding the solution while the run goes on cannot replace its files.
bin="$runs/bin-$name"
dotnet build -c Release src/CtcDrafter.Train.Cli -o "$bin" -v quiet -nologo
train="dotnet $bin/ctcdrafter-train.dll"
if $carry; then
  $train export --run "$runs/$name" --out "$carried" --carry --threads 1
elif [[ -f "$runs/$name/checkpoint.bin" ]]; then
  $train pretrain --resume "$runs/$name" --export "models/$name" "$@"
  rm -rf "$carried"
elif [[ -f "$carried/training_state.json" ]]; then
  $train pretrain --resume "$carried" --out "$runs/$name" --export "models/$name" "$@"
  rm -rf "$carried"
else
  $train pretrain --config "configs/$name.json" --out "$runs/$name" --export "models/$name" "$@"
fi
