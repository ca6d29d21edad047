"""A row of the daily metrics export, and a CSV file of such rows, for import and batch tests."""
from __future__ import annotations

from pathlib import Path

from core.db.imports import METRICS_COLUMNS

ROW = dict(merchant_id="M2001", merchant_name="测试店", l2_category="女装", as_of="2026-11-21",
           has_trade_90d="1", payment_rank_top_pct="4.5", online_72h_rate="85",
           snad_dispute_rate="1.2", positive_feedback_rate="92", dingtalk_active_days_90d="61",
           ip_severe_infringements="0", ip_prohibited_points="0", trade_violation_points="0",
           banned_or_frozen="0", industry_conditions_met="1", china_good_seller_since="",
           current_tier="silver")


def write_csv(path: Path, rows, columns=METRICS_COLUMNS) -> Path:
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
