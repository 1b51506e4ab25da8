"""Analyst pipeline: datasets, SQL guard and execution (code generation and the
Python sandbox come next)."""
