"""Quarterly batch: set-based SQL on generated merchants, beside a per-merchant ORM loop."""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import Engine

from actions.tier_status import _metrics
from core.db.migrate import upgrade
from core.db.models import (
    AlertDelivery,
    AssessmentResult,
    CategoryBenchmark,
    Merchant,
    MerchantMetrics,
    TierAlert,
    TierProjection,
)
from core.db.session import make_engine, make_session_factory
from core.tiers import engine as rules_engine
from core.tiers.batch import assess_all, parse_quarter
from core.tiers.watch import watch

CATEGORIES = [f"类目{i:02d}" for i in range(40)]
TIERS = ("gold", "silver", "none")


def _rows(count: int, seed: int = 7):
    """Merchants and metrics spread over every outcome (deterministic)."""
    rng = random.Random(seed)
    today = dt.date(2026, 11, 20)
    for i in range(count):
        merchant = (f"B{i:07d}", f"商家{i}", CATEGORIES[i % len(CATEGORIES)],
                    (today - dt.timedelta(days=rng.randint(0, 400))) if rng.random() < 0.03 else None,
                    TIERS[i % 3])
        metrics = (f"B{i:07d}", today, rng.random() > 0.02, round(rng.uniform(0, 100), 1),
                   round(rng.uniform(70, 100), 1), round(rng.uniform(0, 3), 2),
                   round(rng.uniform(85, 100), 1), rng.randint(0, 90),
                   int(rng.random() < 0.01), 0 if rng.random() > 0.02 else rng.randint(1, 30),
                   0 if rng.random() > 0.03 else rng.randint(1, 40), rng.random() < 0.005,
                   rng.random() > 0.05)
        yield merchant, metrics


MERCHANT_COLUMNS = ("id", "name", "l2_category", "china_good_seller_since", "current_tier")
METRIC_COLUMNS = ("merchant_id", "as_of", "has_trade_90d", "payment_rank_top_pct",
                  "online_72h_rate", "snad_dispute_rate", "positive_feedback_rate",
                  "dingtalk_active_days_90d", "ip_severe_infringements", "ip_prohibited_points",
                  "trade_violation_points", "banned_or_frozen", "industry_conditions_met")


def generate(url: str, count: int) -> float:
    """Fill a fresh database with `count` merchants; return the seconds it took."""
    upgrade(url)
    engine = make_engine(url)
    started = time.monotonic()
    now = dt.datetime.utcnow()
    with engine.begin() as conn:
        for table in (AlertDelivery, TierAlert, TierProjection):
            conn.execute(delete(table.__table__))
        conn.execute(delete(AssessmentResult.__table__))
        conn.execute(delete(MerchantMetrics.__table__))
        conn.execute(delete(Merchant.__table__))
        conn.execute(delete(CategoryBenchmark.__table__))
        conn.execute(CategoryBenchmark.__table__.insert(),
                     [{"l2_category": c, "snad_dispute_avg": 0.8 + (i % 10) / 10}
                      for i, c in enumerate(CATEGORIES)])
        if engine.dialect.name == "postgresql":
            _copy(conn, count, now)
        else:
            batch_m, batch_x = [], []
            for merchant, metrics in _rows(count):
                batch_m.append(dict(zip(MERCHANT_COLUMNS, merchant, strict=True), updated_at=now))
                batch_x.append(dict(zip(METRIC_COLUMNS, metrics, strict=True)))
                if len(batch_m) == 50_000:
                    conn.execute(Merchant.__table__.insert(), batch_m)
                    conn.execute(MerchantMetrics.__table__.insert(), batch_x)
                    batch_m, batch_x = [], []
            if batch_m:
                conn.execute(Merchant.__table__.insert(), batch_m)
                conn.execute(MerchantMetrics.__table__.insert(), batch_x)
    took = time.monotonic() - started
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return took


def _copy(conn, count: int, now: dt.datetime) -> None:
    """PostgreSQL: COPY, the way an operator loads a large export."""
    raw = conn.connection.connection  # the psycopg2 connection under SQLAlchemy's
    merchants, metrics = io.StringIO(), io.StringIO()
    for m, x in _rows(count):
        merchants.write("\t".join("\\N" if v is None else str(v) for v in m) + f"\t{now}\n")
        metrics.write("\t".join(str(v) for v in x) + "\n")
    merchants.seek(0)
    metrics.seek(0)
    cursor = raw.cursor()
    cursor.copy_from(merchants, "merchants", columns=MERCHANT_COLUMNS + ("updated_at",))
    cursor.copy_from(metrics, "merchant_metrics", columns=METRIC_COLUMNS)


def tier_watch(url: str, today: dt.date) -> Dict[str, Any]:
    """The tier watch after an import: its first run (every projection new), then one after
    5% of the merchants' 好评率 fell by 8 points (one merchant in 20, by id)."""
    engine = make_engine(url)
    try:
        first = watch(engine, today)
        mm = MerchantMetrics.__table__
        every_twentieth = mm.c.merchant_id.like("B%00") | mm.c.merchant_id.like("B%20") | \
            mm.c.merchant_id.like("B%40") | mm.c.merchant_id.like("B%60") | mm.c.merchant_id.like("B%80")
        with engine.begin() as conn:
            changed = conn.execute(update(mm).where(every_twentieth)
                                   .values(positive_feedback_rate=mm.c.positive_feedback_rate - 8)).rowcount
        second = watch(engine, today)
    finally:
        engine.dispose()
    return {"baseline_s": round(first.seconds, 2), "changed_merchants": changed,
            "alerts": second.alerts, "deliveries": second.deliveries, "watch_s": round(second.seconds, 2)}


def orm_loop(url: str, limit: int, quarter: str, today: dt.date) -> float:
    """The naive way: one merchant at a time through the ORM and the Python engine."""
    rules = rules_engine.load_rules(rules_engine.rules_path())
    factory = make_session_factory(make_engine(url))
    started = time.monotonic()
    with factory.begin() as session:
        session.execute(delete(AssessmentResult).where(AssessmentResult.quarter == quarter))
        ids = session.execute(select(Merchant.id).order_by(Merchant.id).limit(limit)).scalars().all()
    # One merchant at a time (three primary-key reads, the engine, one insert), committed in
    # chunks of 1,000 so that the comparison is with queries, not with fsyncs.
    for start in range(0, len(ids), 1000):
        with factory.begin() as session:
            for merchant_id in ids[start:start + 1000]:
                _assess_one(session, merchant_id, rules, quarter, today)
    return time.monotonic() - started


def _assess_one(session, merchant_id: str, rules, quarter: str, today: dt.date) -> None:
    """Read one merchant, evaluate it in Python, add its result."""
    merchant = session.get(Merchant, merchant_id)
    row = session.get(MerchantMetrics, merchant_id)
    bench = session.get(CategoryBenchmark, merchant.l2_category)
    verdict = rules_engine.evaluate(_metrics(merchant, row), rules,
                                    bench.snad_dispute_avg if bench else None, today)
    session.add(AssessmentResult(quarter=quarter, merchant_id=merchant_id,
                                 outcome=verdict.outcome, missed="",
                                 assessed_at=dt.datetime.utcnow()))


@contextmanager
def fresh_postgres(postgres_admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database for the run (its URL), dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def run(sqlite_url: str, postgres_admin_url: str, merchants: int, orm_merchants: int) -> Dict[str, Any]:
    """Both databases: generate, assess in one statement, the tier watch; the ORM loop on SQLite."""
    quarter, today = parse_quarter("2026Q4")
    results: Dict[str, Any] = {"merchants": merchants}
    with fresh_postgres(postgres_admin_url) as pg_url:
        for label, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
            loaded = generate(url, merchants)
            engine: Engine = make_engine(url)
            summary = assess_all(engine, quarter, today)
            engine.dispose()
            results[label] = {"load_s": round(loaded, 1), "assess_s": round(summary.seconds, 2),
                              "per_merchant_us": round(summary.seconds / merchants * 1e6, 2),
                              "outcomes": summary.outcomes, "watch": tier_watch(url, today)}
        orm = orm_loop(sqlite_url, orm_merchants, "2026Q3", today)
        results["orm_loop_sqlite"] = {"merchants": orm_merchants, "seconds": round(orm, 1),
                                      "per_merchant_us": round(orm / orm_merchants * 1e6, 1)}
        results["batch_vs_orm_per_merchant"] = round(
            results["orm_loop_sqlite"]["per_merchant_us"] / results["sqlite"]["per_merchant_us"], 1)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m bench.batch --watch-only [--merchants N]`: the tier watch alone, on both
    databases (`make bench` runs it with the rest of the batch)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--watch-only", action="store_true", required=True)
    parser.add_argument("--merchants", type=int, default=1_000_000)
    parser.add_argument("--sqlite", type=Path, default=Path("build/bench/watch.db"))
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    args.sqlite.parent.mkdir(parents=True, exist_ok=True)
    _, today = parse_quarter("2026Q4")
    results: Dict[str, Any] = {"merchants": args.merchants}
    with fresh_postgres(args.postgres_admin_url) as pg_url:
        for label, url in (("sqlite", f"sqlite:///{args.sqlite.resolve()}"), ("postgresql", pg_url)):
            loaded = generate(url, args.merchants)
            results[label] = {"load_s": round(loaded, 1), "watch": tier_watch(url, today)}
            print(label, json.dumps(results[label]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
