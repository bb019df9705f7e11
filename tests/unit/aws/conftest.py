"""Fixtures for the prod program's tests."""

from __future__ import annotations

import pytest

from tests.support.prod_program import Run, execute


@pytest.fixture(scope="session")
def prod() -> Run:
    """The prod program on the shipped config, run once; a module whose mocks compute more overrides it."""
    return execute()
