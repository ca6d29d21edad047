#!/usr/bin/env bash
# Print the path of a working Python 3.10 interpreter (Rasa 3.6 runs on 3.10 only).
set -u
candidates=(python3.10)
if command -v pyenv >/dev/null 2>&1; then
  candidates+=("$(pyenv root)"/versions/3.10*/bin/python3.10)
fi
candidates+=("$HOME"/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10)
for py in "${candidates[@]}"; do
  if out=$("$py" -c 'import sys; print(sys.executable) if sys.version_info[:2] == (3, 10) else sys.exit(1)' 2>/dev/null); then
    echo "$out"
    exit 0
  fi
done
echo "error: Python 3.10 not found; install it (e.g. 'pyenv install 3.10') and retry" >&2
exit 1
