"""Worker throughput: ``python -m bench.delivery`` (see __main__ for options)."""
