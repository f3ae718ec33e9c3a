"""Tests of webhooks/public/: outcome, report and claim pages."""
