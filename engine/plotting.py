"""Matplotlib helpers for report figures: a figure on the Agg backend, a PNG data URI."""

from __future__ import annotations

import base64
import io
from typing import Any


def figure(width: float = 6.4, height: float = 3.6, columns: int = 1) -> tuple[Any, Any]:
    """``(fig, axes)`` on the non-interactive Agg backend (``columns`` side by side)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, columns, figsize=(width, height))


def png(fig: Any) -> str:
    """Close ``fig`` and return it as a ``data:image/png;base64,...`` URI."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def integer_ticks(*axes: Any) -> None:
    """Integer tick labels on the x axis (generations, rounds)."""
    from matplotlib.ticker import MaxNLocator

    for axis in axes:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
