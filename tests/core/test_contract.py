"""The names both servers exchange (core/contract.py): the slots are domain.yml's, and no
module uses one of the exchanged names as a key (a slot set or read, a metadata or parse-data
field) by spelling it out itself."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from core import contract

ROOT = Path(__file__).resolve().parents[2]
NAMES = {value for name, value in vars(contract).items()
         if name.startswith(("SLOT_", "META_", "PARSE_")) and isinstance(value, str)}
# Where a name is also an ordinary word (a YAML field of the question sets, a column, a JSON
# field of the agent desk's answer), the same string is not the exchanged key.
NOT_THE_KEY = {"bot/evaluate_answers.py", "bot/evaluate.py", "bot/channels/agent_desk.py",
               "core/db/migrations/versions/0002_handoff.py"}
# "topic" is also a kind of knowledge entry, a key of actions/context.py's map of kinds.
NOT_THE_KEY_IN = {("actions/context.py", contract.SLOT_TOPIC)}


def used_as_key(name: str) -> "re.Pattern[str]":
    """SlotSet("x", ...), get_slot("x"), .get("x"), ["x"], {"x": ...}, set("x", ...)."""
    quoted = rf"""["']{re.escape(name)}["']"""
    return re.compile(rf"(SlotSet|get_slot|\.get|\.set|\.pop|setdefault)\(\s*{quoted}|\[\s*{quoted}\s*\]|"
                      rf"[{{,]\s*{quoted}\s*:")


def test_the_slots_are_the_domains():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert set(contract.SLOTS) == set(domain["slots"])


def test_no_module_spells_out_an_exchanged_name():
    spelled = []
    for package in ("core", "actions", "bot"):
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if path.name == "contract.py" or where in NOT_THE_KEY:
                continue
            text = path.read_text(encoding="utf-8")
            for name in NAMES:
                if (where, name) not in NOT_THE_KEY_IN and used_as_key(name).search(text):
                    spelled.append(f"{where}: '{name}'")
    assert spelled == [], f"use the constants of core/contract.py: {spelled}"
