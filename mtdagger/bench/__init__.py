"""`mtdagger bench <name>`: benchmarks that time an implementation against a baseline in the same run.

Each module exposes `run(args) -> int` and prints its results with `mtdagger.bench.table.print_table`.
"""
