"""Tests of webhooks/console/: the operator console, its sessions and its login."""
