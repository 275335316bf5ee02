"""What the database needs from fanhub beyond queries: fresh planner statistics during bulk loads.

PostgreSQL plans from statistics that autovacuum refreshes about once a minute at best. A first
backfill or a large import adds hundreds of thousands of rows in that time, and a table that was
never analysed gets plans that compare every row of an organization with every looked-up id
(0.2-0.5 s per lookup instead of a few ms). The ingest worker therefore asks, every few
transactions, which hot tables changed a lot since their last analysis and analyses those.
SQLite is left without statistics; where its planner would guess wrong (an organization's filter
beside a list of ids) the query says which term not to index (`db.bulk.unindexed`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from fanhub.db.engine import Database

# Analyse when this share of a table changed since the last analysis (autovacuum's default is 10%
# plus 50 rows, checked once a minute; we check far more often, so ask for a bit more change).
CHANGED_SHARE = 0.2
MIN_CHANGED_ROWS = 1000


def refresh_statistics(
    database: Database,
    tables: Sequence[str],
    *,
    changed_share: float = CHANGED_SHARE,
    min_changed_rows: int = MIN_CHANGED_ROWS,
) -> list[str]:
    """ANALYZE the given tables that changed a lot since their last analysis; returns their names."""
    if database.is_sqlite:
        return []
    with database.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, n_live_tup, n_mod_since_analyze, last_analyze, last_autoanalyze "
                "FROM pg_stat_user_tables WHERE relname = ANY(:tables)"
            ),
            {"tables": list(tables)},
        ).all()
        stale = [
            row.relname
            for row in rows
            if row.n_mod_since_analyze >= min_changed_rows
            and (
                (row.last_analyze is None and row.last_autoanalyze is None)
                or row.n_mod_since_analyze > changed_share * max(row.n_live_tup, 1)
            )
        ]
        for name in stale:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
        conn.commit()
    return stale
