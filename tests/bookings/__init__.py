"""Tests of bridge.services.bookings: bookings, their proofs and redemptions of credits."""
