"""The Cymbal-compatible Partners API: documented write endpoints, analytics, and read endpoints."""
