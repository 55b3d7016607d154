#!/usr/bin/env bash
# The whole book as one PDF, for handouts: _build/pdf/book.pdf (add --solutions to include the
# exercises' solutions). Uses the built HTML book (built first only if missing or stale) and the
# headless Chromium of the browser tests; explorers are printed at their default setting.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
NNLANDSCAPE_EXPLORE=static .venv/bin/python -m nnlandscape.book pdf "$@"
