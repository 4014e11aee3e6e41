#!/usr/bin/env bash
# Distils a reference model and trains its drafts (ctc, eagle, medusa, ctc-nar, eagle3, eagle3-ctc; KINDS="..." picks
# some) into models/<name>/draft-*; after an interruption, rerunning the same command continues (distillation
# answers only the prompts not yet stored, a draft run resumes from its checkpoint, finished drafts are skipped).
# ctc-nar starts from the eagle draft's fc and layer and trains one frame per token (r = 1) for one epoch more than
# the others: on ref-m that took its held-out prefix accuracy at depth 1 from 33 % (r = 2, fresh, 2 epochs) to 74 %
# (docs/TRAINING.md).
#   scripts/train_drafts.sh ref-m [per-source prompts, default 1000] [epochs, default 2]
set -euo pipefail
name="${1:?usage: scripts/train_drafts.sh ref-s|ref-m [per-source] [epochs]}"
per_source="${2:-1000}"
epochs="${3:-2}"
cd "$(dirname "$0")/.."
# A private copy of the tool, so that rebuilding the solution while the run goes on cannot replace its files.
bin="out/train-bin/drafts-$name"
dotnet build -c Release src/CtcDrafter.Train.Cli -o "$bin" -v quiet -nologo
train="dotnet $bin/ctcdrafter-train.dll"
data="out/distill/$name"
# The reference models are stored in bf16, so the bf16 engine gives bit-identical data at half the bytes per token.
$train distill --model "models/$name" --out "$data" --per-source "$per_source" --dtype bf16
for kind in ${KINDS:-ctc eagle medusa ctc-nar eagle3 eagle3-ctc}; do
  draft="models/$name/draft-$kind"
  run="out/draft-runs/$name-draft-$kind"
  if [[ -f "$draft/config.json" ]]; then echo "$draft exists; skipped"; continue; fi
  if [[ -f "$run/checkpoint.bin" ]]; then
    $train train-draft --kind "$kind" --base "models/$name" --data "$data" --out "$draft" --run "$run" --resume
  else
    options=(--epochs "$epochs")
    [[ "$kind" == ctc-nar ]] && options=(--epochs "$((epochs + 1))" --upsampling 1 --init "models/$name/draft-eagle")
    $train train-draft --kind "$kind" --base "models/$name" --data "$data" --out "$draft" --run "$run" "${options[@]}" --eval-interval 250
  fi
done
