"""Use cases over storage and the shop, one package per feature.

Each package's __init__ says what it owns and re-exports the names other features and the
edges may use; its modules are its own.
"""
