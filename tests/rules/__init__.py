"""Tests of bridge/rules/: the pure rules over plain data, no database, no clock."""
