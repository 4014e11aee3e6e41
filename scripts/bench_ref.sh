#!/usr/bin/env bash
# The drafter comparison on a reference model and its drafts, written to docs/results/<name>/:
#   main: gsm8k (first 100), mt-bench (all 80, two turns), stories (100 held-out openings);
#         vanilla, prompt-lookup, medusa, eagle, eagle3, eagle3-ctc, ctc, ctc-nar; greedy, f32, the adaptive tree budget;
#   ablation (the paper's Table 2): the ctc draft without the CTC transform, with the paper's strict one and
#   with ours (repeats also kept), and eagle, on gsm8k.
#   fixed tree: the same drafters on every suite at 16 nodes per step, where tau does not depend on timing.
# A drafter whose draft folder models/<name>/draft-<kind> does not exist is left out, with a message.
#   scripts/bench_ref.sh ref-m [extra bench options...]
#   BENCH_PARTS=main scripts/bench_ref.sh ref-m      (only some of main, ablation, tree16)
# Give the machine's cores to it alone: the figures are speeds.
set -euo pipefail
name="${1:?usage: scripts/bench_ref.sh ref-s|ref-m [bench options...]}"
shift
parts="${BENCH_PARTS:-main ablation tree16}"
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
