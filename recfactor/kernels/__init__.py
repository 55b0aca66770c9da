"""Compiled inner loops (numba). Nothing here allocates models or reads files."""
