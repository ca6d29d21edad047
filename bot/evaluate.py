"""Evaluate the NLU on the held-out set, beside stock Rasa: `python -m bot.evaluate`.

Trains (only when inputs changed) our model and the stock Chinese baseline
(`config.stock.yml`, same hand-written training data), parses every held-out example with
both, and prints intent accuracy (overall and per script), macro-F1, entity F1 and the
false-answer rate on out-of-scope questions; writes `results.json` and `confusion.png`.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from bot import train
from core import script, settings
from core.settings import PROJECT

HELDOUT = PROJECT / "tests" / "nlu" / "heldout.yml"
STOCK_CONFIG = PROJECT / "config.stock.yml"
OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"
# Intents after which the assistant states a programme fact (if it has an entry to state).
ANSWERING_INTENTS = {"ask_programme"}
NOT_AN_ENTRY = {"aspect", "platform"}
# Kinds after which the programme action answers even if another platform is mentioned.
SPECIFIC = {"measure", "measure_number", "resource", "version", "feature", "section", "guarantee"}


def train_stock(out: Path) -> Path:
    """Train the stock baseline (NLU only) unless its inputs are unchanged."""
    model = out / "stock.tar.gz"
    stamp = out / "stock.fingerprint"
    digest = hashlib.sha256(STOCK_CONFIG.read_bytes())
    for path in sorted((PROJECT / "data" / "nlu").rglob("*.yml")):
        digest.update(path.read_bytes())
    current = digest.hexdigest()
    if model.exists() and stamp.exists() and stamp.read_text().strip() == current:
        return model
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "rasa", "train", "nlu", "--config", str(STOCK_CONFIG),
                    "--nlu", "data/nlu", "--out", str(out), "--fixed-model-name", "stock"],
                   cwd=PROJECT, check=True, env=dict(settings.environment(), PYTHONPATH=str(PROJECT)))
    stamp.write_text(current + "\n")
    return model


def load_examples(path: Path) -> List[Dict[str, Any]]:
    """Held-out examples: text, gold intent, gold entities {(type, value)}, script."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for message in load_data(str(path)).training_examples:
        text = message.get("text")
        entities = {(e["entity"], str(e["value"])) for e in message.get("entities") or []}
        examples.append({"text": text, "intent": message.get("intent"), "entities": entities,
                         "script": script.detect_script(text) or "latin"})
    return examples


async def _parse_all(model: Path, texts: List[str]) -> List[Dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def predictions(model: Path, texts: List[str]) -> List[Dict[str, Any]]:
    """Parse every text with the model: intent and (type, value) entities."""
    results = asyncio.run(_parse_all(model, texts))
    return [{"intent": (r.get("intent") or {}).get("name"),
             "entities": {(e["entity"], str(e["value"])) for e in r.get("entities") or []}}
            for r in results]


def _label(intent: Optional[str]) -> str:
    # Falling back and declaring a question out of scope are the same outcome to a merchant.
    return OUT_OF_SCOPE if intent is None or intent == FALLBACK else intent


def score(examples: List[Dict[str, Any]], predicted: List[Dict[str, Any]]) -> Dict[str, Any]:
    """All the figures for one model."""
    from sklearn.metrics import f1_score

    gold = [_label(e["intent"]) for e in examples]
    pred = [_label(p["intent"]) for p in predicted]
    correct = [g == p for g, p in zip(gold, pred, strict=True)]
    per_script: Dict[str, Tuple[int, int]] = {}
    for example, ok in zip(examples, correct, strict=True):
        right, total = per_script.get(example["script"], (0, 0))
        per_script[example["script"]] = (right + ok, total + 1)
    tp = fp = fn = 0
    for example, p in zip(examples, predicted, strict=True):
        gold_entities: Set = example["entities"]
        tp += len(gold_entities & p["entities"])
        fp += len(p["entities"] - gold_entities)
        fn += len(gold_entities - p["entities"])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    oos = [(e, p) for e, p in zip(examples, predicted, strict=True) if e["intent"] == OUT_OF_SCOPE]
    false_answers = [
        e["text"] for e, p in oos
        if _label(p["intent"]) in ANSWERING_INTENTS
        and any(kind not in NOT_AN_ENTRY for kind, _ in p["entities"])
        # The action declines questions about other platforms (see actions.programme_terms).
        and not (any(k == "platform" for k, _ in p["entities"])
                 and not any(k in SPECIFIC for k, _ in p["entities"]))
    ]
    errors = [f"{e['text']}: {g} -> {p}"
              for e, g, p, ok in zip(examples, gold, pred, correct, strict=True) if not ok]
    return {
        "examples": len(examples),
        "intent_accuracy": sum(correct) / len(correct),
        "intent_accuracy_by_script": {s: r / t for s, (r, t) in sorted(per_script.items())},
        "examples_by_script": {s: t for s, (_, t) in sorted(per_script.items())},
        "macro_f1": f1_score(gold, pred, average="macro"),
        "entity_precision": precision,
        "entity_recall": recall,
        "entity_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "out_of_scope_questions": len(oos),
        "false_answer_rate": len(false_answers) / len(oos) if oos else 0.0,
        "false_answers": false_answers,
        "intent_errors": errors,
        "labels": sorted(set(gold) | set(pred)),
        "gold": gold,
        "pred": pred,
    }


def confusion_image(results: Dict[str, Dict[str, Any]], path: Path) -> None:
    """Side-by-side intent confusion matrices, one per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 6))
    for ax, (name, r) in zip(axes, results.items(), strict=True):
        ConfusionMatrixDisplay.from_predictions(r["gold"], r["pred"], labels=r["labels"], ax=ax,
                                                colorbar=False, xticks_rotation=45)
        ax.set_title(f"{name}: intent accuracy {r['intent_accuracy']:.1%}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(results: Dict[str, Dict[str, Any]]) -> str:
    """The figures of every model side by side."""
    names = list(results)
    rows: List[Tuple[str, List[str]]] = [("held-out examples", [str(results[n]["examples"]) for n in names])]
    rows.append(("intent accuracy", [f"{results[n]['intent_accuracy']:.1%}" for n in names]))
    for s in results[names[0]]["intent_accuracy_by_script"]:
        count = results[names[0]]["examples_by_script"][s]
        rows.append((f"  {s} ({count})", [f"{results[n]['intent_accuracy_by_script'].get(s, 0):.1%}"
                                          for n in names]))
    rows.append(("intent macro-F1", [f"{results[n]['macro_f1']:.3f}" for n in names]))
    rows.append(("entity F1 (type + knowledge id)", [f"{results[n]['entity_f1']:.1%}" for n in names]))
    rows.append((f"false answers on out-of-scope ({results[names[0]]['out_of_scope_questions']})",
                 [f"{results[n]['false_answer_rate']:.1%}" for n in names]))
    width = max(len(r[0]) for r in rows) + 2
    lines = ["| " + "metric".ljust(width) + " | " + " | ".join(n.ljust(8) for n in names) + " |",
             "|" + "-" * (width + 2) + "|" + "|".join("-" * 10 for _ in names) + "|"]
    lines += ["| " + label.ljust(width) + " | " + " | ".join(v.ljust(8) for v in values) + " |"
              for label, values in rows]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--out", type=Path, default=PROJECT / "build" / "eval")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        # Ours is the model `make run` serves (trained only if its inputs changed).
        models = {"ours": train.train(PROJECT / "models"), "stock": train_stock(args.out / "stock")}
    except subprocess.CalledProcessError as e:
        print(f"error: training failed (exit {e.returncode})", file=sys.stderr)
        return 1
    examples = load_examples(args.heldout)
    texts = [e["text"] for e in examples]
    results = {name: score(examples, predictions(model, texts)) for name, model in models.items()}
    confusion_image(results, args.out / "confusion.png")
    public = {n: {k: v for k, v in r.items() if k not in ("gold", "pred", "labels")}
              for n, r in results.items()}
    (args.out / "results.json").write_text(json.dumps(public, ensure_ascii=False, indent=2),
                                           encoding="utf-8")
    print(table(results))
    for name, r in results.items():
        if r["intent_errors"]:
            print(f"\n{name}: intent errors ({len(r['intent_errors'])})")
            print("\n".join(f"  {line}" for line in r["intent_errors"][:40]))
        if r["false_answers"]:
            print(f"{name}: false answers on out-of-scope: {r['false_answers']}")
    print(f"\nconfusion matrices: {args.out / 'confusion.png'}; figures: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
