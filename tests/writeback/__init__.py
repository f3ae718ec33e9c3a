"""Tests of bridge.services.writeback: the outbox, what it queues and how it drains."""
