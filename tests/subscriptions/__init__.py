"""Tests of bridge.services.subscriptions: periods, credits and perks of subscriptions."""
