"""Audience: contacts and identity resolution, the consent ledger, tags, lists, genres and segments."""
