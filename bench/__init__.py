"""Benchmarks for creator-bridge: scripts that print figures, not tests (pytest never
collects them).

Run them all from the repository root with ``bash bench/run_all.sh`` or ``python -m bench``.
"""
