"""The unbiased pass@k estimator (Chen et al. 2021) and bootstrap confidence intervals.

For a problem with n samples of which c are correct, the probability that at least one of k
samples drawn without replacement is correct is 1 - C(n-c, k) / C(n, k). The binomials overflow
for large n, so we use the product form 1 - prod_{i=n-c+1}^{n} (1 - k / i), which is exact in
real arithmetic and stable in floating point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with `n` samples of which `c` are correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        # Every draw of k samples contains a correct one.
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def default_ks(n: int) -> list[int]:
    """Powers of two up to n, plus n itself (the points a log-scale curve needs)."""
    ks = [1]
    while ks[-1] * 2 <= n:
        ks.append(ks[-1] * 2)
    if ks[-1] != n:
        ks.append(n)
    return ks


def parse_ks(text: str | None, n: int) -> list[int]:
    """Parse `--k 1,8,64`; None means `default_ks(n)`. Raises ValueError with a clear message."""
    if text is None or not text.strip():
        return default_ks(n)
    ks: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            k = int(part)
        except ValueError:
            raise ValueError(f"--k expects integers separated by commas, got {part!r}") from None
        if k < 1:
            raise ValueError(f"--k values must be >= 1, got {k}")
        if k > n:
            raise ValueError(f"--k {k} is larger than the number of samples n={n}")
        if k not in ks:
            ks.append(k)
    if not ks:
        raise ValueError("--k is empty")
    return sorted(ks)


def per_problem_matrix(ns: Sequence[int], cs: Sequence[int], ks: Sequence[int]) -> np.ndarray:
    """Matrix [problem, k] of per-problem pass@k values."""
    out = np.empty((len(ns), len(ks)), dtype=np.float64)
    for i, (n, c) in enumerate(zip(ns, cs, strict=True)):
        for j, k in enumerate(ks):
            out[i, j] = pass_at_k(n, c, k)
    return out


def mean_pass_at_k(ns: Sequence[int], cs: Sequence[int], ks: Sequence[int]) -> dict[int, float]:
    """Benchmark pass@k: the mean over problems of the per-problem estimates."""
    if not ns:
        return {k: float("nan") for k in ks}
    means = per_problem_matrix(ns, cs, ks).mean(axis=0)
    return {k: float(m) for k, m in zip(ks, means, strict=True)}


def bootstrap_ci(
    ns: Sequence[int],
    cs: Sequence[int],
    ks: Sequence[int],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[int, tuple[float, float]]:
    """Percentile bootstrap CI of benchmark pass@k, resampling problems with replacement."""
    m = len(ns)
    if m == 0:
        return {k: (float("nan"), float("nan")) for k in ks}
    values = per_problem_matrix(ns, cs, ks)
    rng = np.random.default_rng(seed)
    # Multinomial counts say how often each problem is drawn in a replicate; counts @ values is
    # then the replicate's sum, without materialising a (resamples x m x k) array.
    counts = rng.multinomial(m, np.full(m, 1.0 / m), size=resamples).astype(np.float64)
    replicates = counts @ values / m
    alpha = (1.0 - level) / 2.0
    lo = np.quantile(replicates, alpha, axis=0)
    hi = np.quantile(replicates, 1.0 - alpha, axis=0)
    return {k: (float(a), float(b)) for k, a, b in zip(ks, lo, hi, strict=True)}
