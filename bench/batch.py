"""Quarterly batch: set-based SQL on generated merchants, beside a per-merchant ORM loop."""
from __future__ import annotations

import datetime as dt
import io
import random
import time
import uuid
from typing import Any, Dict

from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.engine import Engine

from actions.tier_status import _metrics
from core.db.migrate import upgrade
from core.db.models import AssessmentResult, CategoryBenchmark, Merchant, MerchantMetrics
from core.db.session import make_engine, make_session_factory
from core.tiers import engine as rules_engine
from core.tiers.batch import assess_all, parse_quarter

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


def run(sqlite_url: str, postgres_admin_url: str, merchants: int, orm_merchants: int) -> Dict[str, Any]:
    """Both databases: generate, assess in one statement; the ORM loop on SQLite."""
    quarter, today = parse_quarter("2026Q4")
    results: Dict[str, Any] = {"merchants": merchants}
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg_url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        for label, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
            loaded = generate(url, merchants)
            engine: Engine = make_engine(url)
            summary = assess_all(engine, quarter, today)
            engine.dispose()
            results[label] = {"load_s": round(loaded, 1), "assess_s": round(summary.seconds, 2),
                              "per_merchant_us": round(summary.seconds / merchants * 1e6, 2),
                              "outcomes": summary.outcomes}
        orm = orm_loop(sqlite_url, orm_merchants, "2026Q3", today)
        results["orm_loop_sqlite"] = {"merchants": orm_merchants, "seconds": round(orm, 1),
                                      "per_merchant_us": round(orm / orm_merchants * 1e6, 1)}
        results["batch_vs_orm_per_merchant"] = round(
            results["orm_loop_sqlite"]["per_merchant_us"] / results["sqlite"]["per_merchant_us"], 1)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
    return results
