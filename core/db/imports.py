"""Import of the platform's daily metrics export (and category benchmarks) from CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.db.models import CategoryBenchmark

METRICS_COLUMNS = (
    "merchant_id", "merchant_name", "l2_category", "as_of", "has_trade_90d",
    "payment_rank_top_pct", "online_72h_rate", "snad_dispute_rate", "positive_feedback_rate",
    "dingtalk_active_days_90d", "ip_severe_infringements", "ip_prohibited_points",
    "trade_violation_points", "banned_or_frozen", "industry_conditions_met",
    "china_good_seller_since", "current_tier",
)
CATEGORY_COLUMNS = ("l2_category", "snad_dispute_avg")
TIERS = ("gold", "silver", "none")
BATCH = 5000


class RowError(ValueError):
    """A row that cannot be imported: its line number and why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    imported: int = 0
    errors: List[RowError] = field(default_factory=list)
    categories: int = 0


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{name} is empty")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


def _percent(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"{name} must be a percentage between 0 and 100, got {value}")
    return number


# The largest whole number the tables' INTEGER columns hold (PostgreSQL and SQLite alike).
MAX_COUNT = 2**31 - 1


def _count(value: str, name: str) -> int:
    if not value.strip().isascii() or not value.strip().isdigit() or len(value.strip()) > 10 \
            or int(value) > MAX_COUNT:
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_COUNT}, got {value!r}")
    return int(value)


def _flag(value: str, name: str) -> bool:
    if value.strip() not in ("0", "1"):
        raise ValueError(f"{name} must be 0 or 1, got {value!r}")
    return value.strip() == "1"


def _date(value: str, name: str, optional: bool = False) -> Optional[dt.date]:
    if optional and not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{name} must be an ISO date like 2026-11-21, got {value!r}") from None


def parse_metrics_row(row: Dict[str, str]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Validate one CSV row; return (merchant fields, metrics fields) or raise ValueError."""
    days = _count(row["dingtalk_active_days_90d"], "dingtalk_active_days_90d")
    if days > 90:
        raise ValueError(f"dingtalk_active_days_90d cannot exceed 90, got {days}")
    tier = row["current_tier"].strip().lower()
    if tier not in TIERS:
        raise ValueError(f"current_tier must be gold, silver or none, got {row['current_tier']!r}")
    merchant_id = _text(row["merchant_id"], "merchant_id", 64)
    merchant = {
        "id": merchant_id,
        "name": _text(row["merchant_name"], "merchant_name", 200),
        "l2_category": _text(row["l2_category"], "l2_category", 100),
        "china_good_seller_since": _date(row["china_good_seller_since"],
                                         "china_good_seller_since", optional=True),
        "current_tier": tier,
        "updated_at": dt.datetime.utcnow(),
    }
    metrics = {
        "merchant_id": merchant_id,
        "as_of": _date(row["as_of"], "as_of"),
        "has_trade_90d": _flag(row["has_trade_90d"], "has_trade_90d"),
        "payment_rank_top_pct": _percent(row["payment_rank_top_pct"], "payment_rank_top_pct"),
        "online_72h_rate": _percent(row["online_72h_rate"], "online_72h_rate"),
        "snad_dispute_rate": _percent(row["snad_dispute_rate"], "snad_dispute_rate"),
        "positive_feedback_rate": _percent(row["positive_feedback_rate"], "positive_feedback_rate"),
        "dingtalk_active_days_90d": days,
        "ip_severe_infringements": _count(row["ip_severe_infringements"], "ip_severe_infringements"),
        "ip_prohibited_points": _count(row["ip_prohibited_points"], "ip_prohibited_points"),
        "trade_violation_points": _count(row["trade_violation_points"], "trade_violation_points"),
        "banned_or_frozen": _flag(row["banned_or_frozen"], "banned_or_frozen"),
        "industry_conditions_met": _flag(row["industry_conditions_met"], "industry_conditions_met"),
    }
    return merchant, metrics


def _read(path: Path, columns: Tuple[str, ...]) -> Iterable[Tuple[int, Optional[Tuple[str, ...]]]]:
    """(line, the fields of `columns` in their order) of each row of a CSV file with a header,
    read as csv.DictReader reads it (blank lines skipped, a duplicated column's last one
    taken) without a dict per row; the fields are None for a row with a wrong number of
    fields."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        position = {name: i for i, name in enumerate(header)}
        missing = [c for c in columns if c not in position]
        if missing:
            raise RowError(1, f"missing columns: {', '.join(missing)}")
        assert len(columns) > 1, "itemgetter of one column gives no tuple"
        pick = operator.itemgetter(*(position[c] for c in columns))
        width = len(header)
        for row in reader:
            if not row:
                continue
            yield reader.line_num, (pick(row) if len(row) == width else None)


_FLAGS = {"0": False, "1": True}
# Dates seen by this process's imports, raw text to ISO text (an export's as-of date is the
# same on every row); only valid dates are kept. Bounded, so that memory does not grow.
_DATES: Dict[str, str] = {}


def _iso_day(value: str) -> str:
    day = _DATES.get(value)
    if day is None:
        day = dt.date.fromisoformat(value).isoformat()
        if len(_DATES) >= 10_000:
            _DATES.clear()
        _DATES[value] = day
    return day


def _stage_values(line: int, fields: Tuple[str, ...]) -> Optional[Tuple[Any, ...]]:
    """The staging row (_STAGE_COLUMNS) of a valid row written the way the platform writes it,
    else None: parse_metrics_row then validates the row (spaces around numbers and flags, a
    mistake) and says what is wrong. One function, no dicts: the import's hot path."""
    (merchant_id, name, category, as_of, trade, payment, online, snad, positive, days, severe,
     prohibited, violations, banned, industry, since, tier) = fields
    merchant_id, name, category = merchant_id.strip(), name.strip(), category.strip()
    digits = days + severe + prohibited + violations  # whole numbers of at most 9 digits
    if not (0 < len(merchant_id) <= 64 and 0 < len(name) <= 200 and 0 < len(category) <= 100
            and tier in TIERS and digits.isdigit() and digits.isascii() and 0 < len(days) <= 2
            and 0 < len(severe) <= 9 and 0 < len(prohibited) <= 9 and 0 < len(violations) <= 9
            and int(days) <= 90):
        return None
    try:
        rates = (float(payment), float(online), float(snad), float(positive))
        flags = (_FLAGS[trade], _FLAGS[banned], _FLAGS[industry])
        as_of_day = _iso_day(as_of)
        since_day = _iso_day(since) if since else None
    except (ValueError, KeyError):
        return None
    if not (0.0 <= rates[0] <= 100.0 and 0.0 <= rates[1] <= 100.0 and 0.0 <= rates[2] <= 100.0
            and 0.0 <= rates[3] <= 100.0):
        return None
    return (line, merchant_id, name, category, since_day, tier, as_of_day, flags[0], *rates,
            int(days), int(severe), int(prohibited), int(violations), flags[1], flags[2])


def _upsert(session: Session, model, rows: List[Dict[str, Any]], keys: List[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(model).values(rows)
    updates = {c: statement.excluded[c] for c in rows[0] if c not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))


def import_categories(factory: "sessionmaker[Session]", path: Path) -> ImportReport:
    """Import level-2 category averages (all rows or nothing)."""
    report = ImportReport()
    rows = []
    for line, fields in _read(path, CATEGORY_COLUMNS):
        report.rows += 1
        try:
            if fields is None:
                raise ValueError("wrong number of fields")
            category, average = fields
            rows.append({"l2_category": _text(category, "l2_category", 100),
                         "snad_dispute_avg": _percent(average, "snad_dispute_avg")})
        except ValueError as e:
            report.errors.append(RowError(line, str(e)))
    if report.errors:
        return report
    with factory.begin() as session:
        _upsert(session, CategoryBenchmark, rows, ["l2_category"])
    report.categories = report.imported = len(rows)
    return report


# The staging table of one import: every validated row with its line, before the upsert.
STAGE = "metrics_import_stage"
_MERCHANT_FIELDS = ("id", "name", "l2_category", "china_good_seller_since", "current_tier")
_METRIC_FIELDS = tuple(c for c in METRICS_COLUMNS if c not in (
    "merchant_id", "merchant_name", "l2_category", "china_good_seller_since", "current_tier"))
_STAGE_TYPES = {"line": "INTEGER", "id": "VARCHAR(64)", "name": "VARCHAR(200)", "l2_category": "VARCHAR(100)",
                "china_good_seller_since": "DATE", "current_tier": "VARCHAR(16)", "as_of": "DATE",
                "has_trade_90d": "BOOLEAN", "payment_rank_top_pct": "FLOAT", "online_72h_rate": "FLOAT",
                "snad_dispute_rate": "FLOAT", "positive_feedback_rate": "FLOAT",
                "dingtalk_active_days_90d": "INTEGER", "ip_severe_infringements": "INTEGER",
                "ip_prohibited_points": "INTEGER", "trade_violation_points": "INTEGER",
                "banned_or_frozen": "BOOLEAN", "industry_conditions_met": "BOOLEAN"}
_STAGE_COLUMNS = tuple(_STAGE_TYPES)


def _stage_row(line: int, merchant: Dict[str, Any], metrics: Dict[str, Any]) -> Tuple[Any, ...]:
    """parse_metrics_row's fields as a staging row, dates as ISO text (as _stage_values has them)."""
    values = {**merchant, **metrics, "line": line}
    return tuple(v.isoformat() if isinstance(v, dt.date) else v for v in (values[c] for c in _STAGE_COLUMNS))


class _Stage:
    """A temporary table in the import's own transaction, written a batch at a time: with
    PostgreSQL's COPY, with SQLite's executemany. Rows go from it to the tables in two
    statements (INSERT ... SELECT ... ON CONFLICT), so memory does not grow with the file."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.postgres = self.connection.dialect.name == "postgresql"
        columns = ", ".join(f"{name} {kind}" for name, kind in _STAGE_TYPES.items())
        schema = "pg_temp" if self.postgres else "temp"
        self.connection.exec_driver_sql(f"DROP TABLE IF EXISTS {schema}.{STAGE}")
        self.connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {STAGE} ({columns})" + (" ON COMMIT DROP" if self.postgres else ""))
        self.written = 0

    def write(self, rows: List[Tuple[Any, ...]]) -> None:
        """Staging rows as _stage_values makes them: text, numbers, booleans, None, dates as text."""
        if not rows:
            return
        cursor = self.connection.connection.cursor()
        try:
            if self.postgres:  # None is an empty field (NULL), True and False read as booleans
                buffer = io.StringIO()
                csv.writer(buffer).writerows(rows)
                buffer.seek(0)
                cursor.copy_expert(f"COPY {STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                                   buffer)
            else:
                marks = ", ".join("?" * len(_STAGE_COLUMNS))
                cursor.executemany(f"INSERT INTO {STAGE} VALUES ({marks})", rows)
        finally:
            cursor.close()
        self.written += len(rows)

    def duplicates(self) -> List[Tuple[str, int, int]]:
        """(merchant id, line, first line) of every row whose merchant an earlier row has."""
        self.connection.exec_driver_sql(f"CREATE INDEX {STAGE}_id ON {STAGE} (id, line)")
        found = self.connection.exec_driver_sql(
            f"SELECT s.id, s.line, f.first FROM {STAGE} s JOIN (SELECT id, MIN(line) AS first FROM {STAGE} "
            f"GROUP BY id HAVING COUNT(*) > 1) f ON s.id = f.id WHERE s.line > f.first").all()
        return [(str(i), int(line), int(first)) for i, line, first in found]

    def drop_lines(self, lines: List[int]) -> None:
        for start in range(0, len(lines), BATCH):
            chunk = lines[start:start + BATCH]
            self.connection.exec_driver_sql(
                f"DELETE FROM {STAGE} WHERE line IN ({', '.join(str(int(n)) for n in chunk)})")

    def upsert(self, now: dt.datetime) -> int:
        """Merchants, then their metrics, from the stage; how many merchants. A row the tables
        already hold as it is is not written again (a merchant's updated_at moves only when
        its own fields change), so importing the same file twice writes nothing the second time."""
        stamp = now if self.postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f")
        merchant_columns = ", ".join(_MERCHANT_FIELDS)
        self.connection.execute(text(
            f"INSERT INTO merchants ({merchant_columns}, updated_at) SELECT {merchant_columns}, :now "
            f"FROM {STAGE} WHERE true ON CONFLICT (id) DO UPDATE SET "
            + self._changed("merchants", _MERCHANT_FIELDS[1:], ("updated_at",))), {"now": stamp})
        metric_columns = ", ".join(_METRIC_FIELDS)
        self.connection.exec_driver_sql(
            f"INSERT INTO merchant_metrics (merchant_id, {metric_columns}) SELECT id, {metric_columns} "
            f"FROM {STAGE} WHERE true ON CONFLICT (merchant_id) DO UPDATE SET "
            + self._changed("merchant_metrics", _METRIC_FIELDS))
        return int(self.connection.exec_driver_sql(f"SELECT COUNT(*) FROM {STAGE}").scalar_one())

    def _changed(self, table: str, columns: Tuple[str, ...], also: Tuple[str, ...] = ()) -> str:
        """SET every column (and `also`) from the new row, WHERE one of `columns` differs."""
        distinct = "IS DISTINCT FROM" if self.postgres else "IS NOT"  # NULL-safe on both
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns + also)
        differs = " OR ".join(f"{table}.{c} {distinct} excluded.{c}" for c in columns)
        return f"{updates} WHERE {differs}"

    def drop(self) -> None:
        if not self.postgres:  # PostgreSQL drops it at commit
            self.connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{STAGE}")


def import_metrics(factory: "sessionmaker[Session]", path: Path, skip_bad_rows: bool = False,
                   progress: Optional[Callable[[int], None]] = None) -> ImportReport:
    """Import the daily export in one transaction; a bad row stops it unless skip_bad_rows.

    Streamed: rows are validated as they are read and written to a staging table a batch at a
    time; duplicates are found in the database; one statement per table then upserts them. A
    bad row (or, without skip_bad_rows, any error) leaves the tables as they were."""
    report = ImportReport()
    with factory.begin() as session:
        stage = _Stage(session)
        batch: List[Tuple[Any, ...]] = []
        for line, fields in _read(path, METRICS_COLUMNS):
            report.rows += 1
            if progress:
                progress(1)
            values = None if fields is None else _stage_values(line, fields)
            if values is None:
                try:
                    if fields is None:
                        raise ValueError("wrong number of fields")
                    row = dict(zip(METRICS_COLUMNS, fields, strict=True))
                    values = _stage_row(line, *parse_metrics_row(row))
                except ValueError as e:
                    report.errors.append(RowError(line, str(e)))
                    continue
            batch.append(values)
            if len(batch) >= BATCH:
                stage.write(batch)
                batch = []
        stage.write(batch)
        repeated = stage.duplicates()
        report.errors += [RowError(line, f"merchant_id {merchant_id} already on line {first}")
                          for merchant_id, line, first in repeated]
        report.errors.sort(key=lambda e: e.line)
        if report.errors and not skip_bad_rows:
            stage.drop()
            return report
        stage.drop_lines([line for _, line, _ in repeated])
        report.imported = stage.upsert(dt.datetime.utcnow())
        stage.drop()
    return report
