#!/usr/bin/env bash
# Run every test: unit tests of nnlandscape, the book build (-W; rebuilt only if _build is missing or
# older than the sources) and the real-browser tests against the built HTML.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
