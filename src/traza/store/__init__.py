"""Tracking stores: the interface, the SQL implementation, and the choice of one by URI."""

from traza.store.base import Store

__all__ = ["Store"]
