"""Connectors: pulling events, orders and buyers from ticketing platforms into the canonical model."""
