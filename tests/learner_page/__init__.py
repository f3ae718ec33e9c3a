"""Tests of bridge.services.learner_page and learner_links: page links, formats."""
