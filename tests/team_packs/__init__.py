"""Tests of bridge.services.team_packs: team packs and their claims."""
