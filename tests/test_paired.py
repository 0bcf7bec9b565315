"""The paired comparison that `azr eval` prints for several models."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from azr.evaluate.paired import against_first, bootstrap_diff, compare, mcnemar_exact


def _result(model: str, correct: list[int], n: int = 1, bench: str = "cruxeval-o") -> object:
    records = [{"id": f"p{i}", "n": n, "correct": c} for i, c in enumerate(correct)]
    return SimpleNamespace(model=model, benchmark=bench, records=records)


def test_mcnemar_exact_matches_the_binomial_test() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0
    # 0 vs 6 discordant: 2 * 0.5**6
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    # 36 vs 16 (the step-0 prompt table): two-sided binomial p
    expected = 2 * sum(math.comb(52, i) for i in range(17)) / 2**52
    assert mcnemar_exact(36, 16) == pytest.approx(expected)
    assert mcnemar_exact(16, 36) == mcnemar_exact(36, 16)
    assert 0.005 < expected < 0.01


def test_compare_counts_discordant_problems_by_id() -> None:
    base = _result("base", [1, 1, 0, 0, 1, 0, 0, 0])
    trained = _result("trained", [1, 0, 1, 1, 1, 1, 0, 1])
    # The trained run also scored a problem base never saw: it is ignored.
    trained.records.append({"id": "extra", "n": 1, "correct": 1})
    p = compare(base, trained)
    assert (p.problems, p.first_only, p.second_only, p.both, p.neither) == (8, 1, 4, 2, 1)
    assert p.test == "mcnemar-exact"
    assert p.p_value == pytest.approx(mcnemar_exact(1, 4))
    assert p.pass1_first == pytest.approx(3 / 8) and p.pass1_second == pytest.approx(6 / 8)
    assert p.diff == pytest.approx(3 / 8)
    lo, hi = p.ci95
    assert lo <= p.diff <= hi


def test_several_samples_use_a_paired_bootstrap() -> None:
    base = _result("base", [0] * 40 + [2] * 10, n=4)
    better = _result("better", [2] * 40 + [2] * 10, n=4)
    p = compare(base, better)
    assert p.test == "paired-bootstrap"
    assert p.diff == pytest.approx(0.4)
    assert p.ci95[0] > 0.25 and p.p_value < 0.01
    same = compare(base, _result("same", [0] * 40 + [2] * 10, n=4))
    assert same.diff == 0 and same.p_value == 1.0


def test_bootstrap_interval_covers_zero_when_nothing_moved() -> None:
    a = [float(i % 2) for i in range(60)]
    b = [float((i + 1) % 2) if i < 4 else float(i % 2) for i in range(60)]
    (lo, hi), p = bootstrap_diff(a, b)
    assert lo < 0 < hi and p > 0.5


def test_against_first_pairs_each_later_model_per_benchmark() -> None:
    results = [
        _result("a", [1, 0]),
        _result("a", [1, 0], bench="cruxeval-i"),
        _result("b", [1, 1]),
        _result("b", [0, 0], bench="cruxeval-i"),
    ]
    pairs = against_first(results)
    assert [(p.benchmark, p.first, p.second) for p in pairs] == [
        ("cruxeval-o", "a", "b"),
        ("cruxeval-i", "a", "b"),
    ]
    assert pairs[0].second_only == 1 and pairs[1].first_only == 1
    with pytest.raises(ValueError, match="cannot pair"):
        compare(results[0], results[1])
