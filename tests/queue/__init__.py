"""Tests of bridge.services.queue: the durable queue the inbox and the outbox share."""
