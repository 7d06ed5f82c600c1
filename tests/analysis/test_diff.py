"""diff_views on hand-made views whose answers are worked out by hand in each test."""

from __future__ import annotations

import pytest

from xdiag.analysis.diff import diff_views


def ops_view(*rows: tuple, devices: int = 8) -> dict:
    """rows: (module, program_id, op, self_ns, total_ns, occurrences)."""
    return {"ops": [{"module": m, "program_id": p, "op": o, "category": "fusion", "self_ns": s,
                     "total_ns": t, "occurrences": n} for m, p, o, s, t, n in rows],
            "devices": [str(d) for d in range(devices)]}


def steps_view(count: int, mean_ns: float | None = None) -> dict:
    summary: dict = {"count": count}
    if count:
        summary["mean_ns"] = mean_ns
    return {"steps": [], "summary": summary}


def test_the_issue_case_10_steps_against_8_steps_53_percent_slower() -> None:
    """A (baseline) ran 10 steps of 100 us of `dot`; B ran 8 steps of 153 us. Raw totals
    (1.0 ms vs 1.224 ms) and the swapped order (-34.6 %) both mislead; per step B is 53 %
    slower."""
    a = ops_view(("m", 1, "dot", 10 * 100_000, 10 * 100_000, 10))
    b = ops_view(("m", 7, "dot", 8 * 153_000, 8 * 153_000, 8))
    d = diff_views("A", "B", a, b, steps_view(10, 1_000_000), steps_view(8, 1_530_000))
    assert d["normalization"]["kind"] == "per_step"
    assert (d["normalization"]["a_divisor"], d["normalization"]["b_divisor"]) == (10, 8)
    assert d["time"] == "self_ns" and d["baseline"] == "a"
    [op] = d["ops"]
    assert op["a_ns"] == pytest.approx(100_000) and op["b_ns"] == pytest.approx(153_000)
    assert op["delta_ns"] == pytest.approx(53_000)
    assert op["delta_pct"] == pytest.approx(53.0)
    assert op["a_calls"] == op["b_calls"] == 1
    assert d["steps"]["delta_pct"] == pytest.approx(53.0)
    assert d["totals"]["delta_pct"] == pytest.approx(53.0)
    assert d["notes"] == []


def test_self_time_is_compared_and_program_ids_are_merged() -> None:
    """A while loop's total holds its body; self time does not. The same op under two
    program ids (a module compiled twice) is one row."""
    a = ops_view(("m", 1, "while", 1_000, 50_000, 1), ("m", 1, "body", 49_000, 49_000, 4),
                 ("m", 2, "body", 1_000, 1_000, 1))
    b = ops_view(("m", 3, "while", 1_000, 30_000, 1), ("m", 3, "body", 29_000, 29_000, 4))
    d = diff_views("A", "B", a, b, steps_view(1, 1.0), steps_view(1, 1.0))
    rows = {r["op"]: r for r in d["ops"]}
    assert rows["while"]["delta_ns"] == 0
    assert rows["body"]["a_ns"] == 50_000 and rows["body"]["b_ns"] == 29_000
    assert rows["body"]["a_occurrences"] == 5
    assert d["ops"][0]["op"] == "body"  # largest change first
    assert d["totals"]["a_ns"] == 51_000 and d["totals"]["b_ns"] == 30_000


def test_ops_in_one_profile_only_are_normalised_too() -> None:
    a = ops_view(("m", 1, "old", 4_000, 4_000, 4), ("m", 1, "same", 4, 4, 4))
    b = ops_view(("m", 1, "new", 6_000, 6_000, 2), ("m", 1, "same", 2, 2, 2))
    d = diff_views("A", "B", a, b, steps_view(4, 1.0), steps_view(2, 1.0))
    assert [(r["op"], r["ns"]) for r in d["only_a"]] == [("old", 1_000)]
    assert [(r["op"], r["ns"], r["total_ns"]) for r in d["only_b"]] == [("new", 3_000, 6_000)]


def test_without_steps_per_second_of_capture_then_raw_totals() -> None:
    a = ops_view(("m", 1, "dot", 2_000_000, 2_000_000, 10))
    b = ops_view(("m", 1, "dot", 3_000_000, 3_000_000, 10))
    d = diff_views("A", "B", a, b, steps_view(0), steps_view(5, 1.0),
                   span_a_ns=2e9, span_b_ns=1e9)
    assert d["normalization"]["kind"] == "per_second"
    assert "per second of capture" in d["normalization"]["label"]
    [op] = d["ops"]
    assert (op["a_ns"], op["b_ns"]) == (1_000_000, 3_000_000)  # ns of op time per second
    assert d["steps"]["delta_pct"] is None and d["steps"]["a_mean_ns"] is None
    assert any("A has no steps" in n for n in d["notes"])

    raw = diff_views("A", "B", a, b, steps_view(0), steps_view(0))
    assert raw["normalization"]["kind"] == "total"
    assert raw["ops"][0]["delta_ns"] == 1_000_000
    assert raw["ops"][0]["delta_pct"] == pytest.approx(50.0)


def test_different_device_counts_are_pointed_out() -> None:
    a = ops_view(("m", 1, "dot", 8, 8, 8), devices=8)
    b = ops_view(("m", 1, "dot", 4, 4, 4), devices=4)
    d = diff_views("A", "B", a, b, steps_view(1, 1.0), steps_view(1, 1.0))
    assert d["devices"] == {"a": 8, "b": 4}
    assert any("8 devices" in n and "4" in n for n in d["notes"])


def test_an_op_absent_from_the_baseline_time_has_no_percentage() -> None:
    a = ops_view(("m", 1, "dot", 0, 0, 1))
    b = ops_view(("m", 1, "dot", 10, 10, 1))
    d = diff_views("A", "B", a, b, steps_view(1, 1.0), steps_view(1, 1.0))
    assert d["ops"][0]["delta_pct"] is None and d["ops"][0]["delta_ns"] == 10
