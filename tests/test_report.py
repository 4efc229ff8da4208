"""The results table: rows upserted by name, ratios against the teacher, Markdown rendering."""
import json

from kd_teach.report import markdown_table, upsert_rows


def _row(name, acc, b32):
    return {"name": name, "accuracy": acc, "params": 1e6, "size_mb": 4.0, "latency_ms_b1": 2 * b32,
            "latency_ms_b32": b32, "train_seconds": 1.0}


def test_upsert_replaces_by_name_and_keeps_other_rows(tmp_path):
    path = tmp_path / "results.json"
    upsert_rows(path, [_row("teacher", 0.9, 8.0), _row("baseline", 0.8, 2.0)])
    table = upsert_rows(path, [_row("baseline", 0.81, 2.0), _row("hinton-kd", 0.85, 2.0)])
    assert [r["name"] for r in table["rows"]] == ["teacher", "baseline", "hinton-kd"]
    assert json.loads(path.read_text()) == table
    table = upsert_rows(path, [_row("teacher", 0.9, 8.0)])   # a re-measured teacher keeps its place
    assert [r["name"] for r in table["rows"]] == ["teacher", "baseline", "hinton-kd"]
    rows = {r["name"]: r for r in table["rows"]}
    assert rows["baseline"]["accuracy"] == 0.81
    assert rows["hinton-kd"]["speedup"] == 4.0 and rows["teacher"]["speedup"] == 1.0
    assert abs(rows["hinton-kd"]["share_of_teacher"] - 0.85 / 0.9) < 1e-12


def test_markdown_table_formats_every_column(tmp_path):
    table = upsert_rows(tmp_path / "r.json", [_row("teacher", 0.9, 8.0), _row("baseline", 0.8, 2.0)])
    md = markdown_table(table["rows"]).splitlines()
    assert md[0].startswith("| row | dev acc | % of teacher |")
    assert md[3] == "| baseline | 0.8000 | 88.9% | 1.0 | 4.0 | 4.00 | 2.00 | 4.0x | 1 |"
