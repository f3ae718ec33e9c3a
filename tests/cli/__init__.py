"""Tests of bridge/cli/: the `bridge` command as a person or a script uses it."""
