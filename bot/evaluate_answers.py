"""Score whole answers on question sets written blind: `python -m bot.evaluate_answers SET.yml...`.

The NLU figures of `bot.evaluate` say whether a message was classified as intended; merchants
see answers. This asks every question of a set over HTTP (REST channel, a fresh conversation
each) against the served model and the action server, and scores what came back:

- answer: right when every required fact appears in the reply (converted to simplified,
  spaces and thousands separators removed; a fact also counts in the form it takes after a
  Taiwan or Hong Kong round trip, as the reply to a traditional question went through one:
  支援疫情联盟 -> 支援疫情聯盟 -> 支持疫情联盟) and a traditional question is answered in
  traditional characters;
- confidently wrong: a cited answer (it carries a source line) that states none of the
  required facts, or, for a question the documents do not answer or that is out of scope, a
  cited answer that does not say the documents leave it open;
- doc-silent handled honestly: no cited fact, or a cited reply that says, before its source
  line, that the document does not give it (the validity line after the source, "原文没有写整体
  有效期", answers only a question about whether or until when the programme runs);
- right but saying a detail is not given (counted, not failed): the reply has the facts and
  also says the documents leave something open, which is true when the question asked for a
  detail the documents do not give and misleading when they give all of it;
- out of scope declined: the reply is a decline, not a programme fact or a clarification; the
  assistant saying what it is and what it can do ("are you a person?", "what is your name?")
  declines too: it answers nothing from the documents.

Sets are YAML: `questions: [{id, text, script: simplified|traditional, kind:
answer|doc_silent|out_of_scope, facts: [[alternative, ...], ...]}]`.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set

import yaml

from core import script
from core.limits import UNLIMITED
from core.settings import PROJECT

BLIND_DIR = PROJECT / "tests" / "nlu" / "blind"
KINDS = ("answer", "doc_silent", "out_of_scope")
SCRIPTS = ("simplified", "traditional")
# A reply that states a programme fact cites it: the domain's utter_answer ends with this line.
CITATION = "来源:"
# Ways a reply says the documents do not give something (simplified, after normalising).
NOT_GIVEN = ("没有写", "没有给出", "没有提到", "没有说明", "未提及", "未说明", "没有规定", "没有公布",
             "没有具体", "不在我能回答", "没有这方面", "没有单独说明")
# Domain responses that decline a question (their opening words identify them).
DECLINE_RESPONSES = ("utter_out_of_scope", "utter_other_platform", "utter_capabilities")
# A question about whether a programme still runs, when it ends ("2021年还搞不搞").
VALIDITY_ASKED = re.compile(r"有效期|截止|结束|到期|到什么时候|到啥时候|还搞|还有没有|还有吗|还在吗|还能申请|"
                            r"还可以申请|仲有|仲可以|现在还|\d{4}年")
_SEPARATOR = re.compile(r"(?<=\d)[,,](?=\d{3})")


def squash(text: str) -> str:
    """Simplified, lower-case, without white space or thousands separators."""
    simplified = script.normalize(text)[0] if text else ""
    return _SEPARATOR.sub("", re.sub(r"\s+", "", simplified)).lower()


@dataclass
class Question:
    """One question of a set and what a right reply must contain."""

    id: str
    text: str
    script: str
    kind: str
    facts: List[List[str]] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: Dict[str, Any], where: str) -> "Question":
        kind, written = raw.get("kind"), raw.get("script")
        if kind not in KINDS or written not in SCRIPTS or not str(raw.get("text") or "").strip():
            raise ValueError(f"{where}: {raw.get('id')}: needs text, script {SCRIPTS}, kind {KINDS}")
        facts = [[str(a) for a in (f if isinstance(f, list) else [f])] for f in raw.get("facts") or []]
        if kind == "answer" and not facts:
            raise ValueError(f"{where}: {raw.get('id')}: an answerable question needs facts")
        return cls(str(raw.get("id")), str(raw["text"]), written, kind, facts)


def load_set(path: Path) -> List[Question]:
    """The questions of one set, validated."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    questions = [Question.parse(q, path.name) for q in data.get("questions") or []]
    if len({q.id for q in questions}) != len(questions):
        raise ValueError(f"{path.name}: duplicate question ids")
    return questions


def decline_openings(domain: Path = PROJECT / "domain.yml") -> List[str]:
    """The opening words of the domain's decline responses, squashed."""
    responses = (yaml.safe_load(domain.read_text(encoding="utf-8")) or {}).get("responses", {})
    return [squash(responses[name][0]["text"])[:10] for name in DECLINE_RESPONSES if name in responses]


def fact_forms(fact: str) -> Set[str]:
    """A fact as written and as it reads after each traditional round trip, squashed."""
    base = squash(fact)
    return {base} | {squash(script.from_simplified(base, variant))
                     for variant in (script.TAIWAN, script.HONG_KONG)}


@dataclass
class Verdict:
    """How one reply scored."""

    question: Question
    reply: str
    right: bool
    confidently_wrong: bool
    cited: bool
    declined: bool
    script_ok: bool
    says_not_given: bool = False


def body_of(reply: str) -> str:
    """What a reply says before its source line: a cited answer ends with the source and the
    programme's validity ("原文没有写整体有效期…"), which is about the programme, not about what
    was asked."""
    lines = reply.split("\n")
    end = next((i for i, line in enumerate(lines) if CITATION in script.normalize(line)[0]), len(lines))
    return "\n".join(lines[:end])


def judge(q: Question, reply: str, declines: Sequence[str]) -> Verdict:
    """Score one reply against its question."""
    flat = squash(reply)
    cited = CITATION in script.normalize(reply)[0]
    # The validity line is an answer when the question asks whether the programme still runs.
    said = flat if VALIDITY_ASKED.search(squash(q.text)) else squash(body_of(reply))
    says_not_given = any(m in said for m in NOT_GIVEN)
    declined = any(flat.startswith(d) or d in flat for d in declines) or (says_not_given and not cited)
    script_ok = q.script == "simplified" or script.detect_script(reply) in (script.TAIWAN, script.HONG_KONG)
    if q.kind == "answer":
        found = [any(form in flat for a in alternatives for form in fact_forms(a))
                 for alternatives in q.facts]
        right = all(found) and script_ok
        wrong = cited and not any(found)
    elif q.kind == "doc_silent":
        right = not cited or says_not_given
        wrong = cited and not says_not_given
    else:
        right = declined
        wrong = cited and not says_not_given
    return Verdict(q, reply, right, wrong, cited, declined, script_ok, says_not_given)


def summarise(verdicts: List[Verdict]) -> Dict[str, Any]:
    """Figures of one set: accuracy per kind and script, confidently wrong rate."""
    def rate(items: List[Verdict]) -> Optional[float]:
        return sum(v.right for v in items) / len(items) if items else None

    by_kind = {k: [v for v in verdicts if v.question.kind == k] for k in KINDS}
    answers = by_kind["answer"]
    figures: Dict[str, Any] = {
        "questions": len(verdicts),
        "answer_accuracy": rate(answers),
        "answer_accuracy_by_script": {s: rate([v for v in answers if v.question.script == s])
                                      for s in SCRIPTS},
        "answers_by_script": dict(Counter(v.question.script for v in answers)),
        "answers_right": sum(v.right for v in answers),
        "answers_in_wrong_script": sum(not v.script_ok for v in answers),
        # Right facts, but the reply also says the documents leave something open: true when a
        # detail asked about is missing, misleading when the whole question was answered.
        "right_but_not_given": sum(v.right and v.says_not_given for v in answers),
        "confidently_wrong_rate": sum(v.confidently_wrong for v in verdicts) / len(verdicts),
        "confidently_wrong": sum(v.confidently_wrong for v in verdicts),
        "doc_silent": len(by_kind["doc_silent"]),
        "doc_silent_honest": rate(by_kind["doc_silent"]),
        "out_of_scope": len(by_kind["out_of_scope"]),
        "out_of_scope_declined": rate(by_kind["out_of_scope"]),
    }
    figures["failures"] = [
        {"id": v.question.id, "kind": v.question.kind, "text": v.question.text,
         "facts": v.question.facts, "reply": v.reply, "confidently_wrong": v.confidently_wrong}
        for v in verdicts if not v.right]
    # Every reply, right or not: a change to the assistant is read against the last run's.
    figures["replies"] = [{"id": v.question.id, "kind": v.question.kind, "right": v.right,
                           "reply": v.reply} for v in verdicts]
    return figures


def evaluate(questions: Iterable[Question], ask: Callable[[str], str],
             declines: Sequence[str]) -> Dict[str, Any]:
    """Ask every question (each in a fresh conversation) and score the replies."""
    return summarise([judge(q, ask(q.text), declines) for q in questions])


def rest_asker(port: int) -> Callable[[str], str]:
    """Ask over the REST channel, one new conversation per question."""
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"

    def ask(text: str) -> str:
        body = json.dumps({"sender": f"eval-{uuid.uuid4().hex}", "message": text}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            replies = json.loads(response.read())
        return "\n".join(r.get("text") or "" for r in replies)

    return ask


def _pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def table(results: Dict[str, Dict[str, Any]]) -> str:
    """One column per set."""
    names = list(results)
    rows = [("questions", [str(results[n]["questions"]) for n in names]),
            ("answer accuracy (right facts)", [
                f"{_pct(results[n]['answer_accuracy'])} ({results[n]['answers_right']})"
                for n in names])]
    for s in SCRIPTS:
        rows.append((f"  {s}", [f"{_pct(results[n]['answer_accuracy_by_script'][s])} "
                                f"of {results[n]['answers_by_script'].get(s, 0)}" for n in names]))
    rows += [
        ("  answered in the wrong script", [str(results[n]["answers_in_wrong_script"]) for n in names]),
        ("  right, also saying a detail is not given", [
            str(results[n]["right_but_not_given"]) for n in names]),
        ("confidently wrong (all questions)", [
            f"{_pct(results[n]['confidently_wrong_rate'])} ({results[n]['confidently_wrong']})"
            for n in names]),
        ("doc-silent handled honestly", [
            f"{_pct(results[n]['doc_silent_honest'])} of {results[n]['doc_silent']}" for n in names]),
        ("out of scope declined", [
            f"{_pct(results[n]['out_of_scope_declined'])} of {results[n]['out_of_scope']}"
            for n in names]),
    ]
    width = max(len(r[0]) for r in rows)
    col = max(16, *(len(n) for n in names))
    lines = [f"| {'blind set'.ljust(width)} | " + " | ".join(n.ljust(col) for n in names) + " |",
             f"|{'-' * (width + 2)}|" + "|".join("-" * (col + 2) for _ in names) + "|"]
    lines += [f"| {label.ljust(width)} | " + " | ".join(v.ljust(col) for v in values) + " |"
              for label, values in rows]
    return "\n".join(lines)


def run_sets(paths: List[Path], model: Path, out: Path) -> Dict[str, Dict[str, Any]]:
    """Serve the model with both servers (embedded defaults, temporary state) and score each set."""
    from bot.serve import Servers, free_port

    sets = {p.stem: load_set(p) for p in paths}
    declines = decline_openings()
    with tempfile.TemporaryDirectory() as state:
        # Every question comes from 127.0.0.1, one after another: no rate limit applies.
        env = {"TRACKER_STORE_DB": f"{state}/trackers.db",
               "DATABASE_URL": f"sqlite:///{state}/merchants.db", **UNLIMITED}
        servers = Servers(model, free_port(), free_port(), env=env, log_dir=Path(state) / "logs",
                          own_session=True)
        try:
            servers.start()
            servers.wait_ready(timeout=300)
            ask = rest_asker(servers.rasa_port)
            results = {name: evaluate(qs, ask, declines) for name, qs in sets.items()}
        finally:
            servers.stop()
    out.mkdir(parents=True, exist_ok=True)
    (out / "answers.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return results


def rescore(paths: List[Path], stored: Path, out: Path) -> Dict[str, Dict[str, Any]]:
    """Score the replies an earlier run kept (its answers.json) again, without asking: how a
    change to the scoring reads on replies already given, first contacts included."""
    kept = json.loads(stored.read_text(encoding="utf-8"))
    declines = decline_openings()
    results: Dict[str, Dict[str, Any]] = {}
    for path in paths:
        replies = {r["id"]: r["reply"] for r in (kept.get(path.stem) or {}).get("replies") or []}
        questions = load_set(path)
        missing = [q.id for q in questions if q.id not in replies]
        if missing:
            raise ValueError(f"{stored}: no reply kept for {path.stem} {missing[0]} "
                             f"(and {len(missing) - 1} more)")
        results[path.stem] = summarise([judge(q, replies[q.id], declines) for q in questions])
    out.mkdir(parents=True, exist_ok=True)
    (out / "answers.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point."""
    from bot import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path,
                        help="question sets (default: every set in tests/nlu/blind/)")
    parser.add_argument("--out", type=Path, default=PROJECT / "build" / "eval")
    parser.add_argument("--model", type=Path, default=None,
                        help="serve this model as it is (default: models/, retrained if stale)")
    parser.add_argument("--replies", type=Path, default=None,
                        help="score the replies kept in this answers.json again instead of asking")
    args = parser.parse_args(argv)
    paths = args.sets or sorted(BLIND_DIR.glob("*.yml"))
    if not paths:
        print("error: no question sets", file=sys.stderr)
        return 1
    try:
        if args.replies is not None:
            results = rescore(paths, args.replies, args.out)
        else:
            model = args.model or train.train(PROJECT / "models")
            results = run_sets(paths, model, args.out)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(table(results))
    print(f"\nevery reply and verdict: {args.out / 'answers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
