"""Analyst pipeline: datasets, code generation, the SQL worker and the Python sandbox."""
