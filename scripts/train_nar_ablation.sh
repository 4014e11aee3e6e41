#!/usr/bin/env bash
# The ctc-nar drafts of the frame ablation: the default frames (K = 4 future tokens, r = 2 frames per token) again,
# r = 1 and 3 at K = 4, K = 3 and 6 at r = 2, into models/<name>/ablation/draft-ctc-nar-*, on the distilled answers
# scripts/train_drafts.sh wrote (out/distill/<name>), all with the same epochs, so that they compare among themselves
# whatever the epochs of the reference model's own ctc-nar draft.
# After an interruption, rerunning continues (finished drafts are skipped, a run resumes from its checkpoint).
#   scripts/train_nar_ablation.sh ref-m [epochs, default 2] [threads, default all cores]
set -euo pipefail
name="${1:?usage: scripts/train_nar_ablation.sh ref-m [epochs] [threads]}"
epochs="${2:-2}"
threads="${3:-0}"
cd "$(dirname "$0")/.."
data="out/distill/$name"
[[ -f "$data/index.json" ]] || { echo "$data not found: run scripts/train_drafts.sh $name first" >&2; exit 1; }
bin="out/train-bin/nar-ablation-$name"
dotnet build -c Release src/CtcDrafter.Train.Cli -o "$bin" -v quiet -nologo
train="dotnet $bin/ctcdrafter-train.dll"
thread_option=()
[[ "$threads" -gt 0 ]] && thread_option=(--threads "$threads")
for variant in "r2k4 2 4" "r1 1 4" "r3 3 4" "k3 2 3" "k6 2 6"; do
  read -r tag r k <<< "$variant"
  draft="models/$name/ablation/draft-ctc-nar-$tag"
  run="out/draft-runs/$name-draft-ctc-nar-$tag"
  if [[ -f "$draft/config.json" ]]; then echo "$draft exists; skipped"; continue; fi
  if [[ -f "$run/checkpoint.bin" ]]; then
    $train train-draft --kind ctc-nar --base "models/$name" --data "$data" --out "$draft" --run "$run" --resume "${thread_option[@]}"
  else
    $train train-draft --kind ctc-nar --upsampling "$r" --future-tokens "$k" --base "models/$name" --data "$data" \
      --out "$draft" --run "$run" --epochs "$epochs" --eval-interval 250 "${thread_option[@]}"
  fi
done
