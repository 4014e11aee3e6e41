#!/usr/bin/env bash
# Packs the CtcDrafter library and the ctcdrafter tool, installs the tool into a temporary folder from the packed
# one, and generates with its default model from outside the repository: what a user who installs it gets.
# Usage: scripts/tool_smoke.sh   (prints the generated text; exit code 0 when every step worked)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dotnet pack "$root/src/CtcDrafter" -c Release -o "$work/pack" --nologo -v quiet
dotnet pack "$root/src/CtcDrafter.Cli" -c Release -o "$work/pack" --nologo -v quiet
ls "$work/pack"
# A package folder of its own: a version packed before would otherwise be installed from the global cache.
NUGET_PACKAGES="$work/packages" dotnet tool install --tool-path "$work/tool" --add-source "$work/pack" CtcDrafter.Cli

cd "$work" # no models/ here: the default model must come with the tool
"$work/tool/ctcdrafter" generate --prompt "Once upon a time" --max-tokens 24
"$work/tool/ctcdrafter" generate --prompt "Once upon a time" --max-tokens 24 --method ctc --json | grep -q '"method": *"ctc"'
echo "tool smoke test passed"
