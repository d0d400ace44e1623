"""Benchmark results, one home for every service that reads or writes them: the store interface
and both stores (SQLite embedded, MongoDB distributed), report building, comparisons, baselines
and drift, and a benchmark's completion. The aggregator writes through it; the gateway, the
embedded runtime and the CLI read through it."""
