"""Reports, latency budgets and run comparisons: readers of run directories only.

`python -m reports build|summary|check|compare` (see `reports/__main__.py`).
Nothing imports this package; it depends only on the run directory format
(`simulate/recording.py`, `simulate/experiment.py`), never on the producers.
"""
