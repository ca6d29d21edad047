"""The daily metrics import (core/db/imports.py), on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

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
