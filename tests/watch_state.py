"""What every watch test may check of the state it leaves."""

from __future__ import annotations

from pathlib import Path

import duckdb


def assert_book_keeps_ids_apart(store: Path) -> None:
    """The book's alerts hold no event ids (millions, at scale); book_ids holds exactly the
    ids of the alerts in the book, none left behind by a replaced or rebuilt alert."""
    db = duckdb.connect(str(store / "watch" / "state.duckdb"), read_only=True)
    try:
        (in_json, counted, stored, orphans, sigs) = db.execute("""
            SELECT (SELECT count(*) FROM book WHERE json_array_length(alert->'event_ids') > 0),
                   (SELECT sum(CAST(alert->>'count' AS BIGINT)) FROM book),
                   (SELECT count(*) FROM book_ids),
                   (SELECT count(*) FROM book_ids WHERE alert_no NOT IN
                        (SELECT alert_no FROM book)),
                   (SELECT count(*) FROM book WHERE ids_sig IS NULL)""").fetchone()
    finally:
        db.close()
    assert in_json == 0 and orphans == 0 and sigs == 0
    assert counted == stored > 0

