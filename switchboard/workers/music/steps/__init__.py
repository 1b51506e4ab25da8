"""The music pipeline's worker kinds, one module each (see workers/__init__.py)."""
