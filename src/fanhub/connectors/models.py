"""Connector tables (connections, checkpoints, webhook deliveries)."""

from __future__ import annotations
