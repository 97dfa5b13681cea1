"""Fixtures for the watcher tests: the real Docker engine helpers live in tests/docker_support."""

from tests.docker_support import lab, test_image, watched

__all__ = ["lab", "test_image", "watched"]
