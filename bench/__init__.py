"""Benchmarks of the assistant beside stock Rasa: `make bench` (see bench/run.py)."""
