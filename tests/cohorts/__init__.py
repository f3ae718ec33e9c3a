"""Tests of bridge/services/cohorts/ and the catalogue applied on purpose: capacity changes,
steering (promote, remove, move), stock written back."""
