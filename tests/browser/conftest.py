"""Fixtures for the browser tests: the real Docker engine helpers live in tests/docker_support."""

from tests.docker_support import lab, test_image

__all__ = ["lab", "test_image"]
