"""Ingest: durable batches of canonical records, the worker that claims them, and the one apply path."""
