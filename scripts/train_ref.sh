#!/usr/bin/env bash
# Trains (or, after an interruption, resumes) a reference model and exports it to models/<name>.
#   scripts/train_ref.sh ref-s [extra pretrain options...]
#   scripts/train_ref.sh ref-m --init models/ref-m      (a new run starting from the committed weights)
# The run folder $CTCDRAFTER_RUNS/<name> (default out/runs, ignored by git; put it outside the work tree when the
# work tree may be laid anew) keeps the checkpoint; rerunning the script continues from it. Write a number into
# <run folder>/threads to change the run's libtorch threads before its next step.
set -euo pipefail
name="${1:?usage: scripts/train_ref.sh ref-s|ref-m [pretrain options...]}"
shift
cd "$(dirname "$0")/.."
runs="${CTCDRAFTER_RUNS:-out/runs}"
# A private copy of the tool, so that rebuilding the solution while the run goes on cannot replace its files.
bin="$runs/bin-$name"
dotnet build -c Release src/CtcDrafter.Train.Cli -o "$bin" -v quiet -nologo
train="dotnet $bin/ctcdrafter-train.dll"
if [[ -f "$runs/$name/checkpoint.bin" ]]; then
  $train pretrain --resume "$runs/$name" --export "models/$name" "$@"
else
  $train pretrain --config "configs/$name.json" --out "$runs/$name" --export "models/$name" "$@"
fi
