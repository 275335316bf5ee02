"""Front doors parse and render; they build no SQL (issue 17).

No module under manager/ or mcp/, no `endpoints.py` and no `cli.py` imports anything from SQLAlchemy
but the `Session` type, or executes a statement itself; queries live in the domains' services and
repositories. (`models.py` files declare tables and are not front doors.)
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "fanhub"
EXECUTING = {"execute", "scalars", "scalar"}


def front_doors() -> list[Path]:
    paths = [*SRC.glob("manager/**/*.py"), *SRC.glob("mcp/**/*.py"), *SRC.glob("**/endpoints.py")]
    paths += [*SRC.glob("**/cli.py")]
    return sorted({p for p in paths if p.name != "models.py"})


def violations(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names = {alias.name for alias in node.names}
            if node.module != "sqlalchemy.orm" or names != {"Session"}:
                found.append(f"line {node.lineno}: from {node.module} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Import) and any(a.name.startswith("sqlalchemy") for a in node.names):
            found.append(f"line {node.lineno}: import sqlalchemy")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in EXECUTING
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
        ):
            found.append(f"line {node.lineno}: session.{node.func.attr}(...)")
    return found


def test_front_doors_build_no_sql() -> None:
    doors = front_doors()
    assert len(doors) > 15  # the glob found the front doors
    found = {str(p.relative_to(SRC)): v for p in doors if (v := violations(p))}
    assert found == {}


def test_the_check_sees_sql(tmp_path: Path) -> None:
    sample = tmp_path / "endpoints.py"
    sample.write_text(
        "from sqlalchemy import select\nfrom sqlalchemy.orm import Session\n"
        "def f(session: Session) -> None:\n    session.execute(select(1))\n"
    )
    assert violations(sample) == ["line 1: from sqlalchemy import select", "line 4: session.execute(...)"]
