"""``make bench``: the flash-sale load test, its fixtures, baselines, invariants and report."""
