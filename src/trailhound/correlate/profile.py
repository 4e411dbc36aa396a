"""Per-key usage profiles and the split between a key's legitimate use and an attacker's.

A stolen CI key keeps being used by CI from its runners while the attacker uses it elsewhere.
The unit of comparison is the (key, network) pair: every network a key was used from, when it
was first seen, which user-agent families and APIs came from it, and which alerts fired on it.

- A network is *suspicious* when alerts fired on it soon after it first appeared (new
  infrastructure that immediately did something alert-worthy), or when a validator/offensive
  tool's user agent came from it. A network that was in routine use long before its first alert
  is established: an administrator rotating keys from their usual desk is not an attacker.
- The key's *baseline* is every network first seen before the earliest suspicious one (T0):
  that history is the owner's.
- Networks first seen after T0 that did not alert are judged by behaviour: the attacker's if
  their user-agent families or APIs are new for the key, otherwise `shared` (new address,
  same behaviour: cannot be told apart, so reported but not counted as the attacker's).
- A key with a baseline is *compromised* when a suspicious network shows a validator tool, a
  high alert, medium alerts in two stages, or went on to do, with calls the owner never made,
  something only an attacker needs (persistence, escalation, lateral movement, collection,
  exfiltration, defense evasion, impact: a session token minted, a bucket made public,
  secrets read). Rules miss variants of each; the owner's history does not.

The decisions are made in Python over these small aggregates; the per-event work stays in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from trailhound.correlate.netinfo import VALIDATOR_FAMILIES, is_aws_origin

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
# The networks of an entity's first day are its own, when its history is long enough to say.
WARMUP = timedelta(hours=24)
WARMUP_HISTORY = timedelta(hours=48)
STRONG_STAGES = frozenset({"persistence", "privilege-escalation", "lateral-movement",
                           "collection", "exfiltration", "defense-evasion", "impact"})


# A user rotating or retiring their own key (no userName parameter, or their own): routine
# from a laptop on a new network, unlike a key made for another user.
# (Compared as a suffix, not with LIKE: `_` is a wildcard there and legal in user names.)
_OWN_KEY_HOUSEKEEPING = """(event_name IN ('CreateAccessKey', 'UpdateAccessKey', 'DeleteAccessKey')
    AND (target_user IS NULL OR target_user = ''
         OR right(principal_arn, length(target_user) + 1) = '/' || target_user))"""


@dataclass
class NetUse:
    network: str
    first_seen: datetime
    last_seen: datetime
    events: int
    ua_families: set[str]
    apis: set[str]
    first_alert: datetime | None = None
    events_before_alert: int = 0
    alert_max_rank: int = 0
    alert_stages: set[str] = field(default_factory=set)
    validator: bool = False
    taxonomy_stages: set[str] = field(default_factory=set)
    # API -> strong stage, for the calls from this network that succeeded and were not a
    # user's own key housekeeping (what an attacker does with a key, not how they look).
    strong_apis: dict[str, str] = field(default_factory=dict)
    org_known: int = 0  # events by other identities from this network before this entity
    # rule id -> (severity rank, stage, first alerted event, distinct days alerted)
    alert_rules: dict[str, tuple[int, str | None, datetime, int]] = field(default_factory=dict)


@dataclass
class KeyVerdict:
    key: str
    compromised: bool
    labels: dict[str, tuple[str, str]]  # network -> (attacker|shared|legit, reason)
    baseline_events: int
    t0: datetime | None
    evidence: list[str]
    confidence: float


def key_network_usage(conn: duckdb.DuckDBPyConnection, keys_table: str
                      ) -> dict[str, dict[str, NetUse]]:
    """Aggregate each candidate key's events per network (one scan, grouped in the engine)."""
    rows = conn.execute(f"""
        SELECT k, net, min(event_time), max(event_time), count(*),
               list(DISTINCT uaf), list(DISTINCT event_name), list(DISTINCT stage),
               list(DISTINCT [event_name, stage]) FILTER (
                   WHERE list_contains(?, stage) AND coalesce(error_code, '') = ''
                     AND NOT {_OWN_KEY_HOUSEKEEPING})
        FROM kev WHERE k IN (SELECT k FROM {keys_table}) GROUP BY k, net
    """, [sorted(STRONG_STAGES)]).fetchall()
    out: dict[str, dict[str, NetUse]] = {}
    for k, net, first, last, n, uas, apis, stages, strong in rows:
        out.setdefault(k, {})[net] = NetUse(net, first, last, int(n), set(uas), set(apis),
                                            taxonomy_stages={s for s in stages if s},
                                            strong_apis={a: st for a, st in strong or []})
    alerts = conn.execute("""
        SELECT kev.k, kev.net, a.rule_id, min(kev.event_time), max(a.rank), any_value(a.stage),
               bool_or(a.validator OR list_contains(?, kev.uaf)),
               count(DISTINCT CAST(kev.event_time AS DATE))
        FROM kev JOIN alert_events a USING (event_id)
        GROUP BY kev.k, kev.net, a.rule_id
    """, [sorted(VALIDATOR_FAMILIES)]).fetchall()
    for k, net, rule, first_alert, rank, stage, validator, days in alerts:
        use = out.get(k, {}).get(net)
        if use is None:
            continue
        use.first_alert = first_alert if use.first_alert is None else min(use.first_alert,
                                                                          first_alert)
        use.alert_max_rank = max(use.alert_max_rank, int(rank or 0))
        if stage:
            use.alert_stages.add(stage)
        use.alert_rules[rule] = (int(rank or 0), stage, first_alert, int(days))
        use.validator = use.validator or bool(validator)
    before = conn.execute("""
        WITH fa AS (SELECT kev.k, kev.net, min(kev.event_time) AS t
                    FROM kev JOIN alert_events a USING (event_id) GROUP BY kev.k, kev.net)
        SELECT kev.k, kev.net, count(*) FROM kev JOIN fa USING (k, net)
        WHERE kev.event_time < fa.t GROUP BY kev.k, kev.net
    """).fetchall()
    for k, net, n in before:
        if net in out.get(k, {}):
            out[k][net].events_before_alert = int(n)
    return out


# Other identities' events from a network, before an entity first used it, that make the
# network the organisation's own (its scanner, its VPN, its office) rather than new.
ORG_KNOWN_MIN_EVENTS = 5


def mark_org_networks(conn: duckdb.DuckDBPyConnection,
                      usage: dict[str, dict[str, NetUse]]) -> None:
    """Fill `org_known` for alerted networks: was anyone else in the organisation there first?

    The attacker's address is new to the whole organisation; a canary key validated by the
    company's own secret scanner comes from where the scanner always runs."""
    from trailhound.correlate.build import _ENTITY_SQL  # one definition of "entity"

    rows: dict[str, list] = {"k": [], "net": [], "prefix": [], "first_seen": []}
    for k, nets in usage.items():
        for net, use in nets.items():
            if use.first_alert is None or is_aws_origin(net):
                continue
            if net.endswith(".0/24"):
                prefix = net[: -len("0/24")]
            elif net.endswith("::/48"):
                prefix = net[: -len(":/48")]
            else:
                continue
            rows["k"].append(k)
            rows["net"].append(net)
            rows["prefix"].append(prefix)
            rows["first_seen"].append(use.first_seen)
    if not rows["k"]:
        return
    conn.register("org_q", pa.table({
        "k": pa.array(rows["k"], pa.string()), "net": pa.array(rows["net"], pa.string()),
        "prefix": pa.array(rows["prefix"], pa.string()),
        "first_seen": pa.array(rows["first_seen"], pa.timestamp("us"))}))
    # The entity's own lineage is not "the organisation": a key the attacker created and used
    # from the same place first must not vouch for that place.
    conn.execute("""
        CREATE OR REPLACE TEMP TABLE org_kin AS
        SELECT DISTINCT k, kin FROM (
            SELECT k, created_access_key_id AS kin FROM kev
            UNION ALL SELECT k, session_access_key_id FROM kev
            UNION ALL SELECT k, access_key_id FROM kev
            UNION ALL SELECT q.k, e.access_key_id FROM (SELECT DISTINCT k FROM org_q) q
                JOIN events e ON e.created_access_key_id = q.k OR e.session_access_key_id = q.k
        ) WHERE kin IS NOT NULL
    """)
    found = conn.execute(f"""
        SELECT q.k, q.net, count(*) FROM org_q q JOIN (
            SELECT *, CASE WHEN contains(source_ip, ':')
                           THEN array_to_string(list_slice(string_split(lower(source_ip), ':'),
                                                           1, 3), ':') || ':'
                           ELSE regexp_extract(source_ip, '^([0-9]+[.][0-9]+[.][0-9]+[.])', 1)
                      END AS prefix
            FROM events WHERE source_ip IS NOT NULL) e
          ON e.prefix = q.prefix AND e.event_time < q.first_seen
        WHERE {_ENTITY_SQL} <> q.k
          AND NOT EXISTS (SELECT 1 FROM org_kin x WHERE x.k = q.k AND x.kin = e.access_key_id)
        GROUP BY q.k, q.net
    """).fetchall()
    conn.unregister("org_q")
    for k, net, n in found:
        usage[k][net].org_known = int(n)


def established_networks(nets: dict[str, NetUse], before: datetime) -> set[str]:
    """Networks an entity used routinely before `before`: its first day's, or any seen at
    least a day earlier with a few events. Used to tell whether a call was the owner's."""
    if not nets:
        return set()
    first = min(u.first_seen for u in nets.values())
    out = set()
    for n, u in nets.items():
        if is_aws_origin(n):
            continue
        first_day = u.first_seen < first + WARMUP and u.first_seen < before
        settled = u.first_seen < before - WARMUP and u.events >= 3
        if first_day or settled:
            out.add(n)
    return out


def judge_key(key: str, nets: dict[str, NetUse], *, forced_attacker: bool = False,
              forced_suspicious: dict[str, str] | None = None,
              ignore_rules: frozenset[str] = frozenset()) -> KeyVerdict:
    """Decide whether `key` (or role entity) was used by someone other than its owner, and
    from which networks.

    Baseline: the networks of the entity's first day (when its history spans more than two
    days), plus every network established before the first suspicious one. Rules that fire on
    baseline networks are routine for this entity (an administrator's console logins without
    MFA, a scanner's listing) and make no network suspicious. A network is suspicious when it
    is new to the entity and to the organisation and a non-routine rule of medium or higher
    severity, or a validator tool's user agent, shows up on it.
    """
    if forced_attacker:
        # Created or obtained by the attacker: every use is the attacker's.
        labels = {n: ("attacker", "key created or obtained by the attacker") for n in nets}
        return KeyVerdict(key, True, labels, 0, None, ["derived from attacker activity"], 0.9)
    if not nets:
        return KeyVerdict(key, False, {}, 0, None, [], 0.0)

    first = min(u.first_seen for u in nets.values())
    last = max(u.last_seen for u in nets.values())
    warm = {n for n, u in nets.items()
            if last - first >= WARMUP_HISTORY and u.first_seen < first + WARMUP
            and not is_aws_origin(n)}
    # Routine: what the owner's own networks raise during the warm-up or on several days.
    # A single match on an owner network later (a sequence rule pulling in one of CI's own
    # calls) does not make a rule routine.
    routine = {r for n in warm for r, (_, _, t, days) in nets[n].alert_rules.items()
               if days >= 2 or t < first + WARMUP} | ignore_rules

    # A security team's own scanner (Prowler, ScoutSuite) on its key every day is not an
    # attacker's tool on that key: only a tool the key did not use from the start counts.
    warm_ua = set().union(*(nets[n].ua_families for n in warm)) if warm else set()
    suspicious: dict[str, str] = dict(forced_suspicious or {})
    for net, use in nets.items():
        if net in suspicious or net in warm or use.first_alert is None or is_aws_origin(net):
            continue
        if use.org_known >= ORG_KNOWN_MIN_EVENTS:
            continue  # the organisation's own infrastructure, not new to it
        if use.validator and not (use.ua_families & VALIDATOR_FAMILIES) <= warm_ua:
            suspicious[net] = "credential validator / offensive tool user agent"
            continue
        unusual = {r for r, (rank, *_) in use.alert_rules.items()
                   if r not in routine and rank >= SEVERITY_RANK["medium"]}
        if unusual:
            suspicious[net] = "alerts unusual for this key from a network new to it"
    if not suspicious:
        labels = {n: ("legit", "no suspicious network") for n in nets}
        return KeyVerdict(key, False, labels, sum(u.events for u in nets.values()), None, [], 0.0)

    # A suspicious network whose user agents and APIs all belong to the owner's baseline is
    # the owner somewhere new (a new CI runner pulled into a multi-step alert), not an
    # attacker: attackers, even with a spoofed user agent, call what the owner never calls.
    same_as_owner: set[str] = set()
    for _ in range(3):
        t0 = min(nets[n].first_seen for n in suspicious)
        baseline = {n: u for n, u in nets.items()
                    if n not in suspicious and (n in warm or u.first_seen < t0)
                    and not is_aws_origin(n)}
        base_ua = set().union(*(u.ua_families for u in baseline.values())) if baseline else set()
        base_api = set().union(*(u.apis for u in baseline.values())) if baseline else set()
        owner_like = {n for n in suspicious if baseline
                      and not (nets[n].ua_families & VALIDATOR_FAMILIES) - base_ua
                      and n not in (forced_suspicious or {})
                      and nets[n].ua_families <= base_ua and nets[n].apis <= base_api}
        if not owner_like:
            break
        same_as_owner |= owner_like
        for n in owner_like:
            del suspicious[n]
        if not suspicious:
            labels = {n: ("shared", "new network, but the same user agents and APIs as the "
                                    "key's legitimate use") if n in same_as_owner
                      else ("legit", "no suspicious network") for n in nets}
            return KeyVerdict(key, False, labels, sum(u.events for u in nets.values()), None,
                              [], 0.0)
    attacker_ua = set().union(*(nets[n].ua_families for n in suspicious))

    labels: dict[str, tuple[str, str]] = {}
    for net, use in nets.items():
        if net in suspicious:
            labels[net] = ("attacker", suspicious[net])
        elif net in baseline:
            labels[net] = ("legit", "network of the key's use before the first suspicious one")
        elif is_aws_origin(net):
            labels[net] = ("shared", "AWS service acting for the key; owner cannot be told")
        elif use.org_known >= ORG_KNOWN_MIN_EVENTS:
            labels[net] = ("shared", "network of the organisation, new to this key")
        elif not baseline:
            if use.ua_families & attacker_ua:
                labels[net] = ("attacker", "same user agent as the alerting networks")
            else:
                labels[net] = ("shared", "no history before the attack to compare with")
        elif use.ua_families - base_ua:
            labels[net] = ("attacker", "new network with a user agent the key never used")
        elif use.apis - base_api:
            labels[net] = ("attacker", "new network calling APIs the key never called")
        else:
            labels[net] = ("shared", "new network, but the same user agents and APIs as the "
                                     "key's legitimate use")

    unusual_alerts = [(rank, stage) for n in suspicious
                      for r, (rank, stage, *_) in nets[n].alert_rules.items()
                      if r not in routine]
    sus_rank = max((rank for rank, _ in unusual_alerts), default=0)
    medium_stages = {st for rank, st in unusual_alerts
                     if st and rank >= SEVERITY_RANK["medium"]}
    validator = any(nets[n].validator for n in suspicious)
    evidence: list[str] = sorted(set((forced_suspicious or {}).values()))
    if validator:
        evidence.append("credential validator user agent")
    if sus_rank >= SEVERITY_RANK["high"]:
        evidence.append("high-severity alert from new infrastructure")
    if len(medium_stages) >= 2:
        evidence.append("alerts in several attack stages from new infrastructure: "
                        + ", ".join(sorted(medium_stages)))
    # What the alerting new infrastructure went on to do with calls the owner never made:
    # a session token minted, a bucket made public, secrets read, logging stopped. Rules
    # miss many variants of each; the owner's own history is the reference. Only with a
    # baseline (below): without one, nothing is "new".
    acted = sorted({st for n in suspicious
                    for api, st in nets[n].strong_apis.items() if api not in base_api})
    if baseline and acted:
        evidence.append("new infrastructure then did what the key never did: "
                        + ", ".join(acted))
    compromised = bool(evidence) and (bool(baseline) or validator or bool(forced_suspicious)
                                      or sus_rank >= SEVERITY_RANK["high"])
    baseline_events = sum(u.events for u in baseline.values())
    attacker_nets = [n for n, (lab, _) in labels.items() if lab == "attacker"]
    did = set().union(*(nets[n].taxonomy_stages for n in attacker_nets))
    confidence = _split_confidence(baseline_events, len(medium_stages | did), validator,
                                   any(lab == "shared" for lab, _ in labels.values()))
    return KeyVerdict(key, compromised, labels, baseline_events, t0, evidence, confidence)


def _split_confidence(baseline_events: int, stages: int, validator: bool, shared: bool) -> float:
    """How sure the legitimate/attacker split is: more owner history, more stages, a named
    attack tool make it surer; events that could not be told apart make it less so."""
    c = 0.35
    c += 0.25 if baseline_events >= 50 else 0.15 if baseline_events >= 5 else 0.0
    c += min(0.25, 0.06 * stages)
    c += 0.1 if validator else 0.0
    c -= 0.1 if shared else 0.0
    return round(max(0.05, min(0.99, c)), 2)
