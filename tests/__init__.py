"""The test suite: one folder per package it tests, the helpers in support/."""
