"""Helpers the tests share: imported as tests.support.<module>, never through a conftest."""
