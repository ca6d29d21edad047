"""The daily metrics import (core/db/imports.py), on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from core.db.imports import import_categories, import_metrics
from core.db.models import Merchant, MerchantMetrics
from tests.metrics_csv import ROW, write_csv


def test_import_then_reimport_updates_in_place(factory, tmp_path):
    categories = tmp_path / "cat.csv"
    categories.write_text("l2_category,snad_dispute_avg\n女装,1.2\n", encoding="utf-8")
    assert import_categories(factory, categories).categories == 1
    report = import_metrics(factory, write_csv(tmp_path / "m.csv", [ROW]))
    assert (report.rows, report.imported, report.errors) == (1, 1, [])
    report = import_metrics(factory, write_csv(tmp_path / "m2.csv",
                                               [dict(ROW, online_72h_rate="70", current_tier="gold")]))
    assert report.imported == 1
    with factory() as s:
        assert s.execute(select(MerchantMetrics.online_72h_rate)).scalar_one() == 70.0
        assert s.execute(select(Merchant.current_tier)).scalar_one() == "gold"
        assert len(s.execute(select(Merchant)).all()) == 1


@pytest.mark.parametrize("change, reason", [
    ({"online_72h_rate": "abc"}, "online_72h_rate is not a number"),
    ({"online_72h_rate": "101"}, "between 0 and 100"),
    ({"as_of": "2026-13-01"}, "as_of must be an ISO date"),
    ({"has_trade_90d": "yes"}, "has_trade_90d must be 0 or 1"),
    ({"current_tier": "bronze"}, "current_tier must be gold, silver or none"),
    ({"merchant_id": ""}, "merchant_id is empty"),
    ({"trade_violation_points": "-3"}, "whole number"),
    ({"dingtalk_active_days_90d": "91"}, "cannot exceed 90"),
])
def test_a_bad_row_imports_nothing_and_names_its_line(factory, tmp_path, change, reason):
    path = write_csv(tmp_path / "m.csv", [dict(ROW, merchant_id="M1"), dict(ROW, merchant_id="M2", **change)
                                           if "merchant_id" not in change else dict(ROW, **change)])
    report = import_metrics(factory, path)
    [error] = report.errors
    assert error.line == 3 and reason in error.reason
    assert report.imported == 0
    with factory() as s:
        assert s.execute(select(Merchant)).all() == []


def test_skip_bad_rows_imports_the_good_ones(factory, tmp_path):
    path = write_csv(tmp_path / "m.csv", [dict(ROW, merchant_id="M1"),
                                           dict(ROW, merchant_id="M2", online_72h_rate="x"),
                                           dict(ROW, merchant_id="M1")])
    report = import_metrics(factory, path, skip_bad_rows=True)
    assert report.imported == 1 and [e.line for e in report.errors] == [3, 4]
    assert "already on line 2" in report.errors[1].reason


def test_missing_columns_are_reported(factory, tmp_path):
    from core.db.imports import RowError
    path = tmp_path / "m.csv"
    path.write_text("merchant_id,merchant_name\nM1,x\n", encoding="utf-8")
    with pytest.raises(RowError, match="missing columns: l2_category"):
        import_metrics(factory, path)


def test_streamed_in_batches_a_late_bad_row_still_imports_nothing(factory, tmp_path, monkeypatch):
    # Rows reach the staging table a batch at a time; a bad row after several batches, or a
    # duplicate across batches, still leaves the tables as they were.
    import core.db.imports as imports

    monkeypatch.setattr(imports, "BATCH", 2)
    good = [dict(ROW, merchant_id=f"M{i}") for i in range(7)]
    report = import_metrics(factory, write_csv(tmp_path / "a.csv", good + [dict(ROW, merchant_id="M9",
                                                                                 as_of="yesterday")]))
    assert [e.line for e in report.errors] == [9] and report.imported == 0
    report = import_metrics(factory, write_csv(tmp_path / "b.csv", good + [dict(ROW, merchant_id="M1")]))
    assert [(e.line, e.reason) for e in report.errors] == [(9, "merchant_id M1 already on line 3")]
    with factory() as s:
        assert s.execute(select(Merchant)).all() == []
    # The same factory (and connection) imports again at once: the staging table is its own.
    for _ in range(2):
        report = import_metrics(factory, write_csv(tmp_path / "c.csv", good))
        assert (report.imported, report.errors) == (7, [])
    with factory() as s:
        assert len(s.execute(select(MerchantMetrics)).all()) == 7


def test_a_count_beyond_what_the_tables_hold_is_a_row_error(factory, tmp_path):
    path = write_csv(tmp_path / "m.csv", [dict(ROW, merchant_id="M1"),
                                           dict(ROW, merchant_id="M2", ip_prohibited_points="99999999999")])
    report = import_metrics(factory, path, skip_bad_rows=True)
    assert [e.line for e in report.errors] == [3] and "from 0 to 2147483647" in report.errors[0].reason
    assert report.imported == 1


# Values a hand-edited or foreign export may hold, for every column: the import's fast path
# (rows written the way the platform writes them) must store what the validator stores, or leave
# the row to the validator, which stores it or says what is wrong.
ODD_VALUES = ["", " ", "0", "1", " 1", "1 ", "01", "90", "91", "090", "+1", "-1", "1.5", "1e1", "1_0",
              "nan", "inf", "100", "100.0", "100.1", "999999999", "9999999999", "2147483647",
              "2147483648", "١", "²", "2026-11-21", " 2026-11-21", "2026-13-01", "20261121", "gold",
              "Gold", " silver ", "none", "x" * 65, "y" * 101, "z" * 201, "店"]


def test_the_fast_path_stores_what_the_validator_stores_or_leaves_the_row_to_it():
    from core.db.imports import METRICS_COLUMNS, _stage_row, _stage_values, parse_metrics_row

    fields = tuple(ROW[c] for c in METRICS_COLUMNS)
    assert _stage_values(2, fields) == _stage_row(2, *parse_metrics_row(ROW))  # taken, same values
    taken = left = 0
    for i, column in enumerate(METRICS_COLUMNS):
        for value in ODD_VALUES:
            row = dict(ROW, **{column: value})
            fast = _stage_values(2, fields[:i] + (value,) + fields[i + 1:])
            try:
                slow = _stage_row(2, *parse_metrics_row(row))
            except ValueError:
                assert fast is None, (column, value)
                continue
            typed = [(type(v), v) for v in slow]
            assert fast is None or [(type(v), v) for v in fast] == typed, (column, value)
            taken, left = taken + (fast is not None), left + (fast is None)
    assert taken > 50 and left > 20  # both ways are exercised


def test_odd_but_valid_values_are_imported_as_the_validator_reads_them(factory, tmp_path):
    path = write_csv(tmp_path / "m.csv", [dict(ROW, merchant_id="M1", online_72h_rate=" 1e1",
                                               dingtalk_active_days_90d=" 090", current_tier=" Gold",
                                               has_trade_90d=" 0", as_of=" 2026-11-20",
                                               ip_prohibited_points="2147483647")])
    report = import_metrics(factory, path)
    assert (report.imported, report.errors) == (1, [])
    with factory() as s:
        metrics = s.execute(select(MerchantMetrics)).scalar_one()
        assert (metrics.online_72h_rate, metrics.dingtalk_active_days_90d, metrics.has_trade_90d,
                str(metrics.as_of)) == (10.0, 90, False, "2026-11-20")
        assert metrics.ip_prohibited_points == 2147483647
        assert s.execute(select(Merchant.current_tier)).scalar_one() == "gold"


def test_a_value_changed_to_or_from_empty_is_written(factory, tmp_path):
    # NULL-safe comparison: "" (NULL) to a date and back are changes.
    for since, stored in (("", None), ("2025-03-01", "2025-03-01"), ("", None)):
        row = dict(ROW, merchant_id="M1", china_good_seller_since=since)
        assert import_metrics(factory, write_csv(tmp_path / "m.csv", [row])).imported == 1
        with factory() as s:
            value = s.execute(select(Merchant.china_good_seller_since)).scalar_one()
            assert (None if value is None else str(value)) == stored


def _row_versions(factory):
    """PostgreSQL's row version (xmin) of every metrics row: it changes when a row is rewritten
    (SQLite has none: there, only merchants' updated_at shows a rewrite; CI runs both)."""
    with factory() as s:
        if s.get_bind().dialect.name != "postgresql":
            return None
        return s.execute(text("SELECT merchant_id, xmin::text FROM merchant_metrics ORDER BY 1")).all()


def test_importing_the_same_file_again_rewrites_nothing(factory, tmp_path):
    rows = [dict(ROW, merchant_id=f"M{i}") for i in range(3)]
    assert import_metrics(factory, write_csv(tmp_path / "a.csv", rows)).imported == 3
    with factory() as s:
        stamps = dict(s.execute(select(Merchant.id, Merchant.updated_at)).all())
    versions = _row_versions(factory)
    report = import_metrics(factory, write_csv(tmp_path / "b.csv", rows))
    assert (report.rows, report.imported, report.errors) == (3, 3, [])
    with factory() as s:
        assert dict(s.execute(select(Merchant.id, Merchant.updated_at)).all()) == stamps
    assert _row_versions(factory) == versions
    # One merchant renamed, another's metrics changed: those rows, and only those, are written.
    rows[0]["merchant_name"], rows[1]["online_72h_rate"] = "新店名", "71.5"
    assert import_metrics(factory, write_csv(tmp_path / "c.csv", rows)).imported == 3
    with factory() as s:
        now = dict(s.execute(select(Merchant.id, Merchant.updated_at)).all())
        assert now["M0"] > stamps["M0"] and (now["M1"], now["M2"]) == (stamps["M1"], stamps["M2"])
        assert s.execute(select(Merchant.name).where(Merchant.id == "M0")).scalar_one() == "新店名"
        assert s.execute(select(MerchantMetrics.online_72h_rate)
                         .where(MerchantMetrics.merchant_id == "M1")).scalar_one() == 71.5
    if versions is not None:
        after = dict(_row_versions(factory))
        before = dict(versions)
        assert after["M1"] != before["M1"] and (after["M0"], after["M2"]) == (before["M0"], before["M2"])
