#!/usr/bin/env bash
# Open the book's chapters live in JupyterLab: every chapter (MyST markdown, chapters/NN_topic.md) is
# converted to a notebook under _build/notebooks/ (jupytext), JupyterLab renders its MyST markdown
# ({cite}, {eq}, :::{exercise}, admonitions: jupyterlab-myst) and every explorer runs live (ipywidgets).
# The notebooks are copies made at each launch: the sources stay chapters/*.md.
# Usage: bash scripts/lab.sh [jupyter lab options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
out=_build/notebooks
mkdir -p "$out"
for md in chapters/*.md; do
  .venv/bin/jupytext --quiet --to ipynb "$md" -o "$out/$(basename "${md%.md}").ipynb"
done
root=()
if [ "$(id -u)" = 0 ]; then root=(--allow-root); fi
export NNLANDSCAPE_EXPLORE=live
exec .venv/bin/jupyter lab "${root[@]}" --ServerApp.root_dir="$out" "$@"
