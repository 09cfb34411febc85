"""Comparison grids and reports: ``lilsr compare`` and ``lilsr ablate``."""
