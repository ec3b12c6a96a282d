#!/usr/bin/env bash
# The policy packs' benchmark in one command: utility and attack success per pack, written to bench/RESULTS.md.
# Extra arguments go to `python -m bench.packs` (e.g. --pack claude-code --no-write).
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
exec "$python" -m bench.packs "$@"
