"""Traza's torture suite: crashes, contention, server load, faults and fuzzing, each at two scales.

Run it with ``python torture/run.py [--scale ci|full] [--only NAME ...]`` (or ``python -m
torture``); see torture/README.md for the scenario contract and docs/reliability.md for figures.
"""
