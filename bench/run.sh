#!/usr/bin/env bash
# One command for the benchmark: installs what it needs (wrk, the proxy's venv, LiteLLM in a venv of its own),
# then runs bench/run.py and writes bench/RESULTS.md. Extra arguments go to bench/run.py, e.g.
#   bash bench/run.sh --seconds 5 --no-litellm
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q wrk >/dev/null; else sudo apt-get install -y -q wrk >/dev/null; fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt

litellm=()
if [[ " $* " != *" --no-litellm "* ]]; then
  # LiteLLM's proxy, the best-known Python peer, in its own venv: its pins must not touch ours.
  if [ ! -x bench/.venv-litellm/bin/litellm ]; then
    python3 -m venv bench/.venv-litellm
    bench/.venv-litellm/bin/pip install --quiet --disable-pip-version-check 'litellm[proxy]' \
      || echo "LiteLLM could not be installed; its rows are left out" >&2
  fi
  [ -x bench/.venv-litellm/bin/litellm ] && litellm=(--litellm bench/.venv-litellm/bin/litellm)
fi
exec .venv/bin/python -m bench.run --write bench/RESULTS.md "${litellm[@]}" "$@"
