"""Developer scripts: `python -m scripts.loadtest` drives `make loadtest` and `make ci-budget`."""
