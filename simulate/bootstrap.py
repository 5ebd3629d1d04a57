"""Bootstrap confidence intervals of a mean over seeds (percentile method, seeded).

An experiment's seeds are independent replications, so the spread of a
metric over them is what a reader needs to judge a difference between two
strategies. With a handful of seeds the normal approximation is poor; the
percentile bootstrap makes no assumption about the metric's distribution
and stays reproducible with a fixed resampling seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000


def bootstrap_ci(
    values: Sequence[float], confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """(low, high) of the mean; None without values, (v, v) for a single one."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    if data.size == 1 or np.all(data == data[0]):
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = rng.choice(data, size=(RESAMPLES, data.size), replace=True).mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)
