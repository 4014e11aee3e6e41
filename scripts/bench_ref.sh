#!/usr/bin/env bash
# The drafter comparison on a reference model and its drafts, written to docs/results/<name>/:
#   main: gsm8k (first 100), mt-bench (all 80, two turns), stories (100 held-out openings);
#         vanilla, prompt-lookup, medusa, eagle, eagle3, eagle3-ctc, ctc, ctc-nar; greedy, f32, the adaptive tree budget;
#   ablation (the paper's Table 2): the ctc draft without the CTC transform, with the paper's strict one and
#   with ours (repeats also kept), and eagle, on gsm8k.
#   fixed tree: the same drafters on every suite at 16 nodes per step, where tau does not depend on timing.
#   nar (the ctc-nar ablation, on gsm8k at 16 nodes): beam search against a top-k tree;
#   nar-frames: each frame variant of models/<name>/ablation (scripts/train_nar_ablation.sh) against vanilla in a run
#   of its own, on gsm8k at 16 nodes.
#   nar-chains: ctc-nar against medusa, eagle and ctc (and vanilla) on the three suites, adaptive budget and 16 nodes.
#   imported: the eagle and medusa drafts exported to their official layouts and imported back, on gsm8k at 16 nodes
#   (tau there must be the native drafts' of the tree16 part).
# A drafter whose draft folder models/<name>/draft-<kind> does not exist is left out, with a message.
#   scripts/bench_ref.sh ref-m [extra bench options...]
#   BENCH_PARTS=main scripts/bench_ref.sh ref-m      (only some of main, ablation, tree16, nar, nar-frames, nar-chains, imported)
# Give the machine's cores to it alone: the figures are speeds.
set -euo pipefail
name="${1:?usage: scripts/bench_ref.sh ref-s|ref-m [bench options...]}"
shift
parts="${BENCH_PARTS:-main ablation tree16 nar nar-frames nar-chains imported}"
cd "$(dirname "$0")/.."
dotnet build -c Release src/CtcDrafter.Cli -v quiet -nologo
bench="dotnet src/CtcDrafter.Cli/bin/Release/net10.0/CtcDrafter.Cli.dll bench --model models/$name"
drafts=""
for kind in ctc eagle eagle3 eagle3-ctc medusa ctc-nar; do
  if [[ -f "models/$name/draft-$kind/config.json" ]]; then drafts="${drafts:+$drafts,}$kind=models/$name/draft-$kind"
  else echo "models/$name/draft-$kind not found: its methods are left out"; fi
done
# The methods of a list whose drafts exist (ctc-strict and ctc-nocollapse run on the ctc draft).
methods() {
  local out="" m kind
  for m in ${1//,/ }; do
    case "$m" in vanilla|prompt-lookup) kind="" ;; ctc-strict|ctc-nocollapse) kind=ctc ;; *) kind="$m" ;; esac
    if [[ -z "$kind" || -f "models/$name/draft-$kind/config.json" ]]; then out="${out:+$out,}$m"; fi
  done
  echo "$out"
}
out="docs/results/$name"
if [[ " $parts " == *" main "* ]]; then
  $bench --draft "$drafts" --methods "$(methods vanilla,prompt-lookup,medusa,eagle,eagle3,eagle3-ctc,ctc,ctc-nar)" \
    --suite gsm8k,mt-bench,stories --limit 100 --out "$out" "$@"
  rm -f "$out/results.json" # per-prompt detail; the tables and plots are what is kept
fi
if [[ " $parts " == *" ablation "* ]]; then
  $bench --draft "$drafts" --methods "$(methods vanilla,eagle,ctc-nocollapse,ctc-strict,ctc)" --suite gsm8k --limit 100 --out "$out/ablation" "$@"
  rm -f "$out/ablation/results.json"
fi
if [[ " $parts " == *" tree16 "* ]]; then
  # tau does not depend on timing at a fixed tree size: the same comparison with 16 nodes per step, on every suite
  $bench --draft "$drafts" --methods "$(methods vanilla,medusa,eagle,eagle3,eagle3-ctc,ctc-nocollapse,ctc-strict,ctc,ctc-nar)" \
    --suite gsm8k,mt-bench,stories --limit 100 --tree 16 --out "$out/tree16" "$@"
  rm -f "$out/tree16/results.json"
fi
if [[ " $parts " == *" nar "* && -f "models/$name/draft-ctc-nar/config.json" ]]; then
  $bench --draft "ctc-nar=models/$name/draft-ctc-nar" --methods vanilla,ctc-nar,ctc-nar-topk --suite gsm8k --limit 100 --tree 16 \
    --out "$out/nar/search" "$@"
  rm -f "$out/nar/search/results.json"
fi
if [[ " $parts " == *" nar-frames "* ]]; then
  for draft in models/"$name"/ablation/draft-ctc-nar-*; do
    [[ -f "$draft/config.json" ]] || continue
    variant="$(basename "$draft")"
    $bench --draft "ctc-nar=$draft" --methods vanilla,ctc-nar --suite gsm8k --limit 100 --tree 16 --out "$out/nar/${variant#draft-}" "$@"
    rm -f "$out/nar/${variant#draft-}/results.json"
  done
fi
if [[ " $parts " == *" nar-chains "* ]]; then
  for budget in adaptive tree16; do
    tree=()
    [[ "$budget" == tree16 ]] && tree=(--tree 16)
    $bench --draft "$drafts" --methods "$(methods vanilla,medusa,eagle,ctc,ctc-nar)" --suite gsm8k,mt-bench,stories --limit 100 \
      "${tree[@]}" --out "$out/nar/against-chains/$budget" "$@"
    rm -f "$out/nar/against-chains/$budget/results.json"
  done
fi
if [[ " $parts " == *" imported "* ]]; then
  cli="dotnet src/CtcDrafter.Cli/bin/Release/net10.0/CtcDrafter.Cli.dll"
  imported="" imported_methods="vanilla" work="out/imported/$name"
  rm -rf "$work"
  for kind in eagle eagle3 medusa; do
    [[ -f "models/$name/draft-$kind/config.json" ]] || continue
    $cli convert draft --to "$kind" --draft "models/$name/draft-$kind" --base "models/$name" --out "$work/$kind-checkpoint"
    $cli convert draft --from "$kind" --checkpoint "$work/$kind-checkpoint" --base "models/$name" --out "$work/draft-$kind"
    imported="${imported:+$imported,}$kind=$work/draft-$kind"
    imported_methods="$imported_methods,$kind"
  done
  $bench --draft "$imported" --methods "$imported_methods" --suite gsm8k --limit 100 --tree 16 --out "$out/imported" "$@"
  rm -f "$out/imported/results.json"
fi
