"""Tests of bridge/store/: the schema, its migrations and the databases' behaviour."""
