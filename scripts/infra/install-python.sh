#!/usr/bin/env bash
# Creates a per-user virtualenv with the independent readers (pyarrow, fastavro), keyed by the requirements hash.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ -x "$PY_VENV/bin/python" ] && [ -f "$PY_VENV/.complete" ]; then
  echo "python readers: cached at $PY_VENV"
  exit 0
fi
rm -rf "$PY_VENV"
python3 -m venv "$PY_VENV"
"$PY_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PY_REQS_FILE"
touch "$PY_VENV/.complete"
echo "python readers: installed at $PY_VENV"
