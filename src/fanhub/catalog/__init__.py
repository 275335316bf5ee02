"""Catalog: events, their ticket types, and orders with their items, from every source."""
