"""Comparing runs: per-condition summaries and tests, with Holm's correction.

Mann-Whitney tests between conditions; paired differences by seed (a fork against its
parent) with Wilcoxon signed-rank tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Holm (1979), "A simple sequentially rejective multiple test procedure", Scand. J.
    Statist. 6: with p sorted ascending, p'_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).
    Rejecting where p' < alpha controls the family-wise error rate at alpha.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = round(running, 15)
    return adjusted


def compare_runs(conditions: Mapping[str, Sequence[float | None]]) -> dict[str, Any]:
    """Mean, standard error and n per condition; two-sided Mann-Whitney U between each pair.

    ``scipy.stats.mannwhitneyu`` (Mann & Whitney 1947). A pair is tested only when both
    conditions have at least one value; ``p_holm`` is filled in by :func:`adjust`.
    """
    from scipy.stats import mannwhitneyu

    summary: dict[str, Any] = {}
    for name, values in conditions.items():
        x = np.asarray([v for v in values if v is not None], dtype=float)
        se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else None
        summary[name] = {"mean": float(x.mean()) if len(x) else None, "se": se, "n": len(x)}
    tests = []
    names = list(conditions)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a = [v for v in conditions[first] if v is not None]
            b = [v for v in conditions[second] if v is not None]
            if len(a) and len(b):
                result = mannwhitneyu(a, b, alternative="two-sided")
                tests.append(
                    {
                        "a": first,
                        "b": second,
                        "u": float(result.statistic),
                        "p": float(result.pvalue),
                        "n_a": len(a),
                        "n_b": len(b),
                    }
                )
    return {"conditions": summary, "mann_whitney": tests}


def paired(conditions: Mapping[str, Mapping[int, float | None]]) -> list[dict[str, Any]]:
    """Per-seed differences between each pair of conditions that share seeds.

    Runs with the same seed in two conditions are a matched pair: a fork and its parent
    share everything up to the fork's time, so their difference is the change's effect
    on that seed. For each pair (``b - a``): the differences by seed, their mean with a
    95% t-interval (``n >= 2``), and the two-sided Wilcoxon signed-rank test
    (Wilcoxon 1945, ``scipy.stats.wilcoxon``; p = 1 when every difference is 0).

    Examples
    --------
    >>> test = paired({"a": {1: 1.0, 2: 2.0, 3: 3.0}, "b": {1: 2.0, 2: 4.0, 3: 3.5}})[0]
    >>> test["diffs"], test["mean_diff"]
    ({1: 1.0, 2: 2.0, 3: 0.5}, 1.1666666666666667)
    """
    from scipy.stats import t as student
    from scipy.stats import wilcoxon

    tests = []
    names = list(conditions)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = conditions[first], conditions[second]
            seeds = sorted(s for s in a if s in b and a[s] is not None and b[s] is not None)
            if not seeds:
                continue
            diffs = {s: float(b[s]) - float(a[s]) for s in seeds}  # type: ignore[arg-type]
            x = np.asarray(list(diffs.values()))
            mean = float(x.mean())
            interval = None
            if len(x) > 1:
                half = float(student.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
                interval = [mean - half, mean + half]
            p = 1.0 if not np.any(x) else float(wilcoxon(x).pvalue)
            tests.append(
                {
                    "a": first,
                    "b": second,
                    "n": len(x),
                    "mean_diff": mean,
                    "ci95": interval,
                    "p": p,
                    "diffs": diffs,
                }
            )
    return tests


def adjust(comparisons: Mapping[str, Mapping[str, Any]]) -> None:
    """Add ``p_holm`` to every test of every measure (one family), in place."""
    tests = [t for c in comparisons.values() for t in (*c["mann_whitney"], *c.get("paired", ()))]
    for test, p in zip(tests, holm([t["p"] for t in tests]), strict=True):
        test["p_holm"] = p
