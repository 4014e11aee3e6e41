#!/usr/bin/env bash
# The drafter comparison on a reference model and its three drafts, written to docs/results/<name>/:
#   main: gsm8k (first 100), mt-bench (all 80, two turns), stories (100 held-out openings);
#         vanilla, prompt-lookup, medusa, eagle, ctc, ctc-nar; greedy, f32, the adaptive tree budget;
#   ablation (the paper's Table 2): the ctc draft without the CTC transform, with the paper's strict one and
#   with ours (repeats also kept), and eagle, on gsm8k.
#   fixed tree: the same drafters on gsm8k at 16 nodes per step, where tau does not depend on timing.
#   scripts/bench_ref.sh ref-m [extra bench options...]
# Give the machine's cores to it alone: the figures are speeds.
set -euo pipefail
name="${1:?usage: scripts/bench_ref.sh ref-s|ref-m [bench options...]}"
shift
cd "$(dirname "$0")/.."
dotnet build -c Release src/CtcDrafter.Cli -v quiet -nologo
bench="dotnet src/CtcDrafter.Cli/bin/Release/net10.0/CtcDrafter.Cli.dll bench --model models/$name"
drafts="ctc=models/$name/draft-ctc,eagle=models/$name/draft-eagle,medusa=models/$name/draft-medusa,ctc-nar=models/$name/draft-ctc-nar"
out="docs/results/$name"
$bench --draft "$drafts" --methods vanilla,prompt-lookup,medusa,eagle,ctc,ctc-nar --suite gsm8k,mt-bench,stories --limit 100 \
  --out "$out" "$@"
$bench --draft "$drafts" --methods vanilla,eagle,ctc-nocollapse,ctc-strict,ctc --suite gsm8k --limit 100 --out "$out/ablation" "$@"
# tau does not depend on timing at a fixed tree size: the same comparison with 16 nodes per step, on every suite
$bench --draft "$drafts" --methods vanilla,medusa,eagle,ctc-nocollapse,ctc-strict,ctc,ctc-nar --suite gsm8k,mt-bench,stories --limit 100 --tree 16 \
  --out "$out/tree16" "$@"
rm -f "$out/results.json" "$out/tree16/results.json" "$out/ablation/results.json" # per-prompt detail; the tables and plots are what is kept
