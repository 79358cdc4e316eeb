"""Inequality of a distribution of resources (generic: any game with holdings)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0: equal, towards 1: concentrated).

    The mean absolute difference over twice the mean (Gini 1912), computed from the
    sorted values as ``2 * sum(i * x_i) / (n * sum(x)) - (n + 1) / n``.

    Examples
    --------
    >>> gini([1, 1, 1, 1])
    0.0
    >>> gini([0, 0, 0, 10])
    0.75
    """
    x = np.sort(np.asarray(values, dtype=float))
    if len(x) == 0 or x.sum() == 0:
        return 0.0
    ranks = np.arange(1, len(x) + 1)
    return float((2 * (ranks * x).sum()) / (len(x) * x.sum()) - (len(x) + 1) / len(x))
