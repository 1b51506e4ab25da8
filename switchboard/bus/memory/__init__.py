"""In-process transport: the production processor path without a broker (tests, examples)."""
