"""Booking rules (pure): booking-tool deliveries as events, their states, and booking links."""
