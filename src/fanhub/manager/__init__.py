"""The web manager: server-rendered pages for venue staff under /manager/ (see endpoints.py)."""
