"""Outcome report rules (pure): the rows it reads, its figures, booking figures, public outcomes."""
