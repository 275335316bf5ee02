"""fanhub: a self-hostable audience hub for live-event venues (see README.md and docs/ARCHITECTURE.md)."""

__version__ = "0.1.0"
