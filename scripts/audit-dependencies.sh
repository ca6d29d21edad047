#!/usr/bin/env bash
# Check the locked dependencies against known advisories with pip-audit (pinned, in its own venv
# under build/, so it never mixes with the project's). Prints how many packages were checked,
# how many could not be (pip-audit skips a package whose advisory data it cannot fetch), and
# every advisory found. Exit 0: all checked, none found; 1: advisories found; 3: not all checked.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=build/audit-venv
if [ ! -x "$venv/bin/pip-audit" ]; then
  "$(scripts/find-python310.sh)" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pip-audit==2.10.1 2>build/audit-install.log
fi
report=build/audit.json
set +e
"$venv/bin/pip-audit" -r requirements.lock --no-deps --disable-pip --progress-spinner off \
  -f json -o "$report" 2>build/audit.log
set -e
"$venv/bin/python" - "$report" <<'PY'
import json, sys
deps = json.load(open(sys.argv[1]))["dependencies"]
skipped = [d for d in deps if d.get("skip_reason")]
found = [(d["name"], d["version"], v["id"], ",".join(v.get("fix_versions") or []) or "no fix")
         for d in deps for v in d.get("vulns") or []]
print(f"pip-audit over requirements.lock: {len(deps)} packages, {len(deps) - len(skipped)} checked, "
      f"{len(skipped)} not checked, {len(found)} advisories")
if skipped:
    print(f"  not checked: {skipped[0]['skip_reason']} (and {len(skipped) - 1} more like it)")
for name, version, vid, fix in found:
    print(f"  {name} {version}: {vid} (fixed in {fix})")
sys.exit(1 if found else 3 if skipped else 0)
PY
