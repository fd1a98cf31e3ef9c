"""Unit tests: domain and services on in-memory fakes, no database and no network."""

from __future__ import annotations

import pytest
from tests.fakes import (
    FakeClock,
    FakePasswords,
    FakeStore,
    FakeUnitOfWorkFactory,
    make_deps,
)

from secinfo.services.deps import Deps


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def passwords() -> FakePasswords:
    return FakePasswords()


@pytest.fixture
def uow_factory() -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
def store(uow_factory: FakeUnitOfWorkFactory) -> FakeStore:
    return uow_factory.store


@pytest.fixture
def deps(uow_factory: FakeUnitOfWorkFactory, clock: FakeClock, passwords: FakePasswords) -> Deps:
    return make_deps(uow=uow_factory, clock=clock, passwords=passwords)
