"""Comparing runs: per-condition summaries, Mann-Whitney tests, Holm's correction."""

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


def adjust(comparisons: Mapping[str, Mapping[str, Any]]) -> None:
    """Add ``p_holm`` to every Mann-Whitney test of every measure (one family), in place."""
    tests = [t for c in comparisons.values() for t in c["mann_whitney"]]
    for test, p in zip(tests, holm([t["p"] for t in tests]), strict=True):
        test["p_holm"] = p
