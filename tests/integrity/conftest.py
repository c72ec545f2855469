"""The store contract suite's fixtures: a store location of every kind."""

from tests.store.conftest import location, store  # noqa: F401
