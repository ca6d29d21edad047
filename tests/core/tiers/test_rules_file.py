"""knowledge/tier_rules.yml: checked like the knowledge files, one source for the assessment
months, and an operator's broken edit never takes the tier answers down."""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import yaml

from actions.programme_terms import ActionAnswerProgramme
from bot.artefacts import build
from core.knowledge import KnowledgeError
from core.tiers import engine
from tests.actions.helpers import entity, run, tracker_for
from tests.conftest import knowledge_store

KNOWLEDGE = Path(__file__).resolve().parents[3] / "knowledge"
RULES = KNOWLEDGE / "tier_rules.yml"


def edited(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    change(data["rules"])
    path = tmp_path / "tier_rules.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_projects_rules_load():
    rules = engine.load_rules(RULES)
    assert rules.assessment_months == (1, 4, 7, 10)
    assert {t.metric for t in rules.tiers["gold"]} >= {"online_72h_rate", "positive_feedback_rate"}


@pytest.mark.parametrize("change, where, problem", [
    (lambda r: r["tiers"]["gold"].update(online_72h_rate={"min": "85%"}),
     "rules.tiers.gold.online_72h_rate", "min must be a number"),
    (lambda r: r["tiers"]["gold"].update(online_72h_rate={"min": 85, "max": 90}),
     "rules.tiers.gold.online_72h_rate", "exactly one of min, max or equals"),
    (lambda r: r["tiers"]["gold"].update(online_72h_rate={"minimum": 85}),
     "rules.tiers.gold.online_72h_rate", "unknown keys: minimum"),
    (lambda r: r["tiers"]["silver"].update(refund_rate={"max": 5}),
     "rules.tiers.silver.refund_rate", "no entry under rules.metrics"),
    (lambda r: r["disqualifying"].update(trade_violation_points={"min": "category_average"}),
     "rules.disqualifying.trade_violation_points", "min must be a number"),
    (lambda r: r.update(assessment_months=[1, 4, 7, 13]), "rules.assessment_months", "1-12"),
    (lambda r: r.update(assessment_months=[7, 1]), "rules.assessment_months", "in order"),
    (lambda r: r.update(protection_days=0), "rules.protection_days", "above 0"),
    (lambda r: r.pop("data_window_days"), "rules.data_window_days", "above 0"),
    (lambda r: r.update(tiers={}), "rules.tiers", "each tier"),
])
def test_a_malformed_rule_is_refused_with_its_place_and_problem(tmp_path, change, where, problem):
    with pytest.raises(KnowledgeError) as caught:
        engine.load_rules(edited(tmp_path, change))
    assert caught.value.entry == where
    assert problem in caught.value.problem


def test_a_file_that_is_not_yaml_is_refused(tmp_path):
    path = tmp_path / "tier_rules.yml"
    path.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="not valid YAML"):
        engine.load_rules(path)


def test_a_broken_edit_keeps_the_last_good_rules_and_a_good_one_is_taken(tmp_path):
    path = edited(tmp_path, lambda r: None)
    rules_file = engine.RulesFile(path)
    assert rules_file.get().assessment_months == (1, 4, 7, 10)
    path.write_text("rules: [unclosed", encoding="utf-8")
    os.utime(path, (1, 1))
    assert rules_file.get().assessment_months == (1, 4, 7, 10)
    edited(tmp_path, lambda r: r.update(assessment_months=[3, 6, 9, 12]))
    os.utime(path, (2, 2))
    assert rules_file.get().assessment_months == (3, 6, 9, 12)


def test_the_build_fails_on_malformed_rules(tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    edited(knowledge, lambda r: r.update(assessment_months=[]))
    with pytest.raises(KnowledgeError, match="assessment_months"):
        build(knowledge, tmp_path / "build")


async def test_the_programme_answer_takes_its_assessment_month_from_the_rules(tmp_path, monkeypatch):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    edited(knowledge, lambda r: r.update(assessment_months=[3, 6, 9, 12]))
    monkeypatch.setenv("KNOWLEDGE_DIR", str(knowledge))
    action = ActionAnswerProgramme(knowledge_store(), today=lambda: dt.date(2026, 11, 22))
    messages, _ = await run(action, tracker_for("多久考核一次", [entity("topic", "topic_assessment")]))
    assert "下一次考核在2026年12月" in messages[0]["answer"]
    rules = engine.shared_rules().get()
    assert engine.next_assessment(rules, dt.date(2026, 11, 22)) == dt.date(2026, 12, 1)


def test_a_platform_setting_without_the_documents_wording_is_refused(tmp_path):
    def drop_wording(rules):
        rules["metrics"]["payment_rank_top_pct"].pop("wording")

    with pytest.raises(KnowledgeError) as caught:
        engine.load_rules(edited(tmp_path, drop_wording))
    assert caught.value.entry == "rules.tiers.gold.payment_rank_top_pct"
    assert "wording" in caught.value.problem
