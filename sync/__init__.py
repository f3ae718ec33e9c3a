"""Scheduled jobs that reconcile what webhooks missed."""
