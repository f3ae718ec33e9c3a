"""Commands about traffic with the shop: webhooks, the inbox, simulate, the write-back outbox."""
