"""Model engines behind small interfaces; the worker modules pick one by config."""
