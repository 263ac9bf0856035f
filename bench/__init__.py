"""Benchmarks of the engine against real PostgreSQL, Redis, Celery workers and the simulator.

`python -m bench` (or `make bench`) runs every suite; see BENCHMARKS.md for the latest figures.
"""
