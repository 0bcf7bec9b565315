"""Paired comparison of two models on the same problems: is one really better?

Two pass rates with overlapping confidence intervals say little, and two that do not overlap
can still hide which problems moved. The paired view counts, problem by problem, where only
the first model is right and where only the second is (the discordant problems carry all the
information), and tests them:

* one sample per problem (greedy): McNemar's exact test, a two-sided binomial test of the
  discordant counts against a fair coin;
* several samples per problem: a paired bootstrap over problems of the difference in mean
  pass@1 (the 95 % interval, and a two-sided p from the share of resamples on the other side
  of zero).

`compare(first, second)` works on two `BenchmarkResult`s (or anything with `records` holding
`id`, `n` and `correct` per problem) and uses only the problems both scored.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Paired:
    """The paired comparison of `second` against `first` on one benchmark."""

    benchmark: str
    first: str
    second: str
    problems: int
    first_only: int  # problems the first model solves (any sample) and the second never
    second_only: int
    both: int
    neither: int
    pass1_first: float
    pass1_second: float
    diff: float  # pass@1 of second minus first
    ci95: tuple[float, float]  # paired bootstrap of diff
    p_value: float
    test: str  # "mcnemar-exact" (one sample each) or "paired-bootstrap"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci95"] = [round(x, 6) for x in self.ci95]
        for key in ("pass1_first", "pass1_second", "diff", "p_value"):
            out[key] = round(out[key], 6)
        return out


def mcnemar_exact(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of the discordant counts at p = 1/2."""
    m = first_only + second_only
    if m == 0:
        return 1.0
    low = min(first_only, second_only)
    tail = sum(math.comb(m, i) for i in range(low + 1)) / 2.0**m
    return min(1.0, 2.0 * tail)


def bootstrap_diff(
    a: Sequence[float], b: Sequence[float], samples: int = 10000, seed: int = 0
) -> tuple[tuple[float, float], float]:
    """95 % percentile interval of mean(b) - mean(a) resampling paired problems, and the
    two-sided bootstrap p-value (twice the share of resampled differences on the far side of
    zero, at most 1)."""
    n = len(a)
    if n == 0:
        return (0.0, 0.0), 1.0
    rng = random.Random(seed)
    d = [y - x for x, y in zip(a, b, strict=True)]
    diffs = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    lo = diffs[int(0.025 * (samples - 1))]
    hi = diffs[int(0.975 * (samples - 1))]
    mean = sum(d) / n
    if mean == 0:
        return (lo, hi), 1.0
    beyond = sum(1 for x in diffs if (x <= 0 if mean > 0 else x >= 0))
    return (lo, hi), min(1.0, 2.0 * beyond / samples)


def compare(first: Any, second: Any, samples: int = 10000, seed: int = 0) -> Paired:
    """`second` against `first` on the problems both scored (matched by id)."""
    if first.benchmark != second.benchmark:
        raise ValueError(f"cannot pair {first.benchmark} with {second.benchmark}")
    a_by = {r["id"]: r for r in first.records}
    b_by = {r["id"]: r for r in second.records}
    ids = [i for i in a_by if i in b_by]
    rate_a = [a_by[i]["correct"] / max(1, a_by[i]["n"]) for i in ids]
    rate_b = [b_by[i]["correct"] / max(1, b_by[i]["n"]) for i in ids]
    hit_a = [a_by[i]["correct"] > 0 for i in ids]
    hit_b = [b_by[i]["correct"] > 0 for i in ids]
    first_only = sum(x and not y for x, y in zip(hit_a, hit_b, strict=True))
    second_only = sum(y and not x for x, y in zip(hit_a, hit_b, strict=True))
    both = sum(x and y for x, y in zip(hit_a, hit_b, strict=True))
    ci, boot_p = bootstrap_diff(rate_a, rate_b, samples, seed)
    single = all(a_by[i]["n"] == 1 and b_by[i]["n"] == 1 for i in ids)
    n = len(ids)
    pa = sum(rate_a) / n if n else 0.0
    pb = sum(rate_b) / n if n else 0.0
    return Paired(
        benchmark=first.benchmark,
        first=first.model,
        second=second.model,
        problems=n,
        first_only=first_only,
        second_only=second_only,
        both=both,
        neither=n - first_only - second_only - both,
        pass1_first=pa,
        pass1_second=pb,
        diff=pb - pa,
        ci95=ci,
        p_value=mcnemar_exact(first_only, second_only) if single else boot_p,
        test="mcnemar-exact" if single else "paired-bootstrap",
    )


def against_first(results: Sequence[Any]) -> list[Paired]:
    """Every later model against the first model given, per benchmark (run order kept)."""
    out = []
    firsts: dict[str, Any] = {}
    for res in results:
        ref = firsts.setdefault(res.benchmark, res)
        if ref is not res:
            out.append(compare(ref, res))
    return out


__all__ = ["Paired", "against_first", "bootstrap_diff", "compare", "mcnemar_exact"]
