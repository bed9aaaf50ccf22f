"""guanxi's benchmark suite (see BENCHMARKS.md in the project's shared docs and docs/benchmarks.md)."""
