#!/usr/bin/env bash
# Trains (or, after an interruption, resumes) a reference model and exports it to models/<name>.
#   scripts/train_ref.sh ref-s [extra pretrain options...]
# The run folder out/runs/<name> (ignored by git) keeps the checkpoint; rerunning the script continues from it.
set -euo pipefail
name="${1:?usage: scripts/train_ref.sh ref-s|ref-m [pretrain options...]}"
shift
cd "$(dirname "$0")/.."
# A private copy of the tool, so that rebuilding the solution while the run goes on cannot replace its files.
bin="out/train-bin/$name"
dotnet build -c Release src/CtcDrafter.Train.Cli -o "$bin" -v quiet -nologo
train="dotnet $bin/ctcdrafter-train.dll"
if [[ -f "out/runs/$name/checkpoint.bin" ]]; then
  $train pretrain --resume "out/runs/$name" --export "models/$name" "$@"
else
  $train pretrain --config "configs/$name.json" --out "out/runs/$name" --export "models/$name" "$@"
fi
