"""Fixtures of the notification tests."""

from tests.support.rotations import scheduling as scheduling
