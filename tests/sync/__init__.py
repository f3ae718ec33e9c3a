"""Tests of sync/: the scheduled jobs, their leases and the clock, against a faked shop."""
