"""CI credential profiles (from `audit-ci --profile-out`) turned into evidence.

A CI key's legitimate use carries its pipeline's markers in the user agent
(`exec-env/GitHubActions`, the configure-aws-credentials action's agent, GitLab's). With a
profile, every use of such a key *without* those markers is the key used outside CI: exactly
the first thing that happened to the stolen Trivy-pipeline key. These become alerts of a
trailhound rule so they are reported and correlated like any other.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from trailhound.rules import Alert

RULE_ID = "trailhound_ci_key_used_outside_ci"
TITLE = "CI/CD key used without its pipeline's user-agent markers"
# Markers generic to any tool (aws-cli/) say nothing about CI: only the environment ones count.
_DISTINCTIVE = ("exec-env/", "configure-aws-credentials", "gitlab", "GitHubActions")
MIN_EVENTS = 20
MIN_SHARE = 0.8


def distinctive_markers(markers: Iterable[str]) -> list[str]:
    return sorted({m for m in markers if any(d.lower() in m.lower() for d in _DISTINCTIVE)})


def ci_key_alerts(conn: duckdb.DuckDBPyConnection, markers: Iterable[str]) -> list[Alert]:
    marks = distinctive_markers(markers)
    if not marks:
        return []
    has = "list_bool_or(list_transform(?, m -> contains(lower(user_agent), lower(m))))"
    has = has.replace("m -> ", "lambda m: ")
    rows = conn.execute(f"""
        WITH tagged AS (
            SELECT event_id, event_time, access_key_id, principal_arn, source_ip, account,
                   coalesce({has}, false) AS ci
            FROM events WHERE access_key_id LIKE 'AKIA%'
        ), ci_keys AS (
            SELECT access_key_id FROM tagged GROUP BY access_key_id
            HAVING count(*) >= ? AND avg(ci::INT) >= ?
        )
        SELECT access_key_id, arg_min(principal_arn, (event_time, event_id)),
               arg_min(source_ip, (event_time, event_id)), arg_min(account, (event_time, event_id)),
               date_trunc('hour', event_time) AS hour, min(event_time), max(event_time),
               list(event_id ORDER BY event_id)
        FROM tagged WHERE NOT ci AND access_key_id IN (SELECT access_key_id FROM ci_keys)
          AND NOT coalesce(ends_with(source_ip, '.amazonaws.com'), false)
        GROUP BY access_key_id, hour ORDER BY 6
    """, [marks, MIN_EVENTS, MIN_SHARE]).fetchall()
    # The alert's principal, address and account are its first event's (as for rule alerts),
    # so both engines name the same ones.
    return [Alert(rule_id=RULE_ID, title=TITLE, severity="medium",
                  stage="credential-validation", techniques=("T1078.004", "T1552.001"),
                  event_ids=tuple(ids), event_time=first, last_event_time=last,
                  access_key_id=key, principal_arn=arn, source_ip=ip, account=acct,
                  count=len(ids))
            for key, arn, ip, acct, _hour, first, last, ids in rows]
