"""Fixtures of the rotation tests."""

from tests.support.rotations import scheduling as scheduling
