#!/usr/bin/env bash
# Install (if needed) and build the HTML book into _build/html, executing every chapter with
# warnings as errors. Explorers render as static plotly figures (NNLANDSCAPE_EXPLORE=static).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
start=$(date +%s)
NNLANDSCAPE_EXPLORE=static .venv/bin/python -m nnlandscape.book build
echo "[build] book built in $(( $(date +%s) - start )) s: _build/html/index.html"
