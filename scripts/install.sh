#!/usr/bin/env bash
# Install everything the book needs into ./.venv and ./_assets/vendor. Idempotent: a second run
# only checks stamps. Used by scripts/build.sh and scripts/test.sh; safe to run on its own.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[install] python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# JavaScript served by the book itself (no CDN at read time): plotly.js from the plotly wheel,
# require.js and the ipywidgets html-manager from the npm registry.
vendor=_assets/vendor
if [ ! -f "$vendor/.complete" ]; then
  echo "[install] vendoring plotly.js, require.js, @jupyter-widgets/html-manager"
  rm -rf "$vendor" && mkdir -p "$vendor/html-manager"
  plotly_js=$(.venv/bin/python -c "import plotly, os; print(os.path.join(os.path.dirname(plotly.__file__), 'package_data', 'plotly.min.js'))")
  cp "$plotly_js" "$vendor/plotly.min.js"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent requirejs@2.3.7 @jupyter-widgets/html-manager@1.0.15 >/dev/null)
  tar xzf "$tmp/requirejs-2.3.7.tgz" -C "$tmp" package/require.js
  cp "$tmp/package/require.js" "$vendor/require.js"
  rm -rf "$tmp/package"
  tar xzf "$tmp/jupyter-widgets-html-manager-1.0.15.tgz" -C "$tmp" package/dist
  cp "$tmp"/package/dist/embed-amd.js "$tmp"/package/dist/*.woff* "$tmp"/package/dist/*.ttf \
     "$tmp"/package/dist/*.eot "$tmp"/package/dist/*.svg "$vendor/html-manager/"
  rm -rf "$tmp"
  touch "$vendor/.complete"
fi

# Headless Chromium for the browser tests (Debian's package; Playwright drives it).
if [ ! -x /usr/bin/chromium ]; then
  echo "[install] chromium (apt)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
