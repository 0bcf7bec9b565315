"""pass@k estimator: hand-computed values, edge cases, stability, bootstrap CIs."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from azr.evaluate.passk import (
    bootstrap_ci,
    default_ks,
    mean_pass_at_k,
    parse_ks,
    pass_at_k,
)


def exact(n: int, c: int, k: int) -> Fraction:
    """1 - C(n-c, k) / C(n, k) in exact rational arithmetic."""
    return 1 - Fraction(comb(n - c, k), comb(n, k))


def test_no_correct_sample_gives_zero_for_every_k() -> None:
    assert [pass_at_k(5, 0, k) for k in range(1, 6)] == [0.0] * 5


def test_all_correct_gives_one_for_every_k() -> None:
    assert [pass_at_k(5, 5, k) for k in range(1, 6)] == [1.0] * 5


def test_k_equal_n_is_one_iff_any_correct() -> None:
    assert pass_at_k(5, 1, 5) == 1.0
    assert pass_at_k(5, 0, 5) == 0.0
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(1, 0, 1) == 0.0


def test_hand_computed_values() -> None:
    # n=5, c=2: k=1 -> 2/5; k=2 -> 1 - C(3,2)/C(5,2) = 1 - 3/10; k=3 -> 1 - 1/10; k=4 -> 1.
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)
    assert pass_at_k(5, 2, 4) == 1.0
    # n=10, c=3, k=5: 1 - C(7,5)/C(10,5) = 1 - 21/252.
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    # pass@1 is the fraction correct.
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8)


def test_matches_exact_binomials_for_large_n() -> None:
    # C(1000, 500) overflows a float; the product form must still agree with exact arithmetic.
    for n, c, k in [(1000, 1, 1), (1000, 3, 500), (256, 17, 64), (200, 100, 100), (64, 1, 63)]:
        assert pass_at_k(n, c, k) == pytest.approx(float(exact(n, c, k)), rel=1e-9, abs=1e-12)


def test_monotone_in_k() -> None:
    values = [pass_at_k(64, 5, k) for k in range(1, 65)]
    assert values == sorted(values)
    assert values[-1] == 1.0


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 6)
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 0)


def test_benchmark_mean_over_problems() -> None:
    # Problems (n=4): c = 0, 2, 4 -> pass@1 = mean(0, .5, 1) = .5;
    # pass@2 = mean(0, 1 - C(2,2)/C(4,2) = 5/6, 1).
    got = mean_pass_at_k([4, 4, 4], [0, 2, 4], [1, 2, 4])
    assert got[1] == pytest.approx(0.5)
    assert got[2] == pytest.approx((0 + 5 / 6 + 1) / 3)
    assert got[4] == pytest.approx(2 / 3)


def test_default_and_parsed_ks() -> None:
    assert default_ks(8) == [1, 2, 4, 8]
    assert default_ks(10) == [1, 2, 4, 8, 10]
    assert default_ks(1) == [1]
    assert parse_ks("8, 1,2,2", 8) == [1, 2, 8]
    assert parse_ks(None, 4) == [1, 2, 4]
    with pytest.raises(ValueError, match="larger than"):
        parse_ks("1,8,64", 8)
    with pytest.raises(ValueError, match="integers"):
        parse_ks("1,x", 8)


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible() -> None:
    ns = [8] * 50
    cs = [i % 9 for i in range(50)]
    ks = [1, 4, 8]
    mean = mean_pass_at_k(ns, cs, ks)
    ci = bootstrap_ci(ns, cs, ks, resamples=500, seed=1)
    assert ci == bootstrap_ci(ns, cs, ks, resamples=500, seed=1)
    for k in ks:
        lo, hi = ci[k]
        assert lo <= mean[k] <= hi
        assert hi - lo > 0.01  # real spread across problems gives a real interval


def test_bootstrap_ci_collapses_when_all_problems_agree() -> None:
    ci = bootstrap_ci([4] * 10, [4] * 10, [1, 4])
    assert ci[1] == (1.0, 1.0)
    assert ci[4] == (1.0, 1.0)
