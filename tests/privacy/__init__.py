"""A learner's access and erasure requests (bridge.services.privacy)."""
