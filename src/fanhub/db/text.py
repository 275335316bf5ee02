"""Text search helpers shared by the read sides."""

from __future__ import annotations


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards escaped (use with `escape="\\\\"`), so a typed `%` or `_` is literal."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
