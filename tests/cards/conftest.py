"""Fixtures for the card tests: Microsoft's templating engine as a reference, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cards.support import Reference


@pytest.fixture(scope="session")
def reference() -> Iterator[Reference]:
    """adaptivecards-templating 2.3.1 in one node process for the whole test session (TZ=UTC)."""
    engine = Reference()
    yield engine
    engine.close()
