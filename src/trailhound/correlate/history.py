"""Each credential owner's history, as use contexts: who used it, from where, with what.

A use context is (owner, network, client). An owner's history is the set of its contexts with
what each did and when: the days it was seen on, the APIs it called (and when first), the
credentials that used it, its addresses and exact user agents, the alerts on it, the
credentials it minted for other identities. The per-event work is SQL over the owners' events
(`kev`, loaded on demand); what is decided from these small aggregates is Python
(`evidence`, `attribute`).

"Established" is the owner's by recurrence: a context seen on several days before the moment
judged. It is never position in the corpus: the first hours of a trail are not the owner's
for being first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa

from trailhound.correlate.fingerprint import is_ci_client, is_routable
from trailhound.correlate.graph import (
    FOREIGN_MINT_EVENTS,
    cred_sql,
    own_target_sql,
    owner_sql,
)
from trailhound.correlate.policy import STRONG_STAGES, Policy
from trailhound.correlate.stages import event_stage_sql

ContextKey = tuple[str, str, str]  # (owner, network, client)


@dataclass
class RuleHit:
    rank: int
    stage: str | None
    first: datetime
    days: int
    validator: bool


@dataclass
class Use:
    """One use context of an owner (events of credentials minted by the attacker excluded:
    those are explained by their mint, not by the owner's history)."""

    owner: str
    network: str
    client: str
    first_seen: datetime
    last_seen: datetime
    events: int = 0
    day_counts: dict[date, int] = field(default_factory=dict)
    apis: dict[str, datetime] = field(default_factory=dict)  # API -> first call
    # API -> (stage, first success): calls in a strong stage (persistence ... impact) that
    # succeeded and were not a user's housekeeping of their own key.
    strong: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    creds: set[str] = field(default_factory=set)
    ips: dict[str, datetime] = field(default_factory=dict)  # address -> first use
    uas: set[str] = field(default_factory=set)  # user-agent fingerprints (`ua_print_sql`)
    ua_days: dict[str, set[date]] = field(default_factory=dict)  # fingerprint -> days used
    alerts: dict[str, RuleHit] = field(default_factory=dict)
    # (event id, time, event name, target user) of successful mints for another identity
    foreign_mints: list[tuple[str, datetime, str, str | None]] = field(default_factory=list)
    # ... and of a second key for the caller's own user
    self_mints: list[tuple[str, datetime, str, str | None]] = field(default_factory=list)
    root_logins: list[tuple[str, datetime]] = field(default_factory=list)
    # (address, time) of the owner's own interactive sign-ins from this context: a console
    # sign-in that no session token of the same principal asked for (federation is a mint).
    sign_ins: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def key(self) -> ContextKey:
        return (self.owner, self.network, self.client)

    def days_before(self, t: datetime) -> int:
        d = t.date()
        return sum(1 for day in self.day_counts if day < d)

    def events_before(self, t: datetime) -> int:
        """Events before `t` (the day of `t` counts whole: days are what is kept)."""
        if self.first_seen >= t:
            return 0
        d = t.date()
        return sum(n for day, n in self.day_counts.items() if day <= d)

    def established_from(self, pol: Policy) -> datetime | None:
        """From when the context is the owner's by recurrence: the day after the one on
        which it had been seen on `established_min_days` days, and not before it is
        `established_min_age_hours` old. None: never."""
        days = sorted(self.day_counts)
        if len(days) < pol.established_min_days:
            return None
        nth = days[pol.established_min_days - 1]
        day_after = datetime(nth.year, nth.month, nth.day) + timedelta(days=1)
        return max(day_after, self.first_seen + timedelta(hours=pol.established_min_age_hours))


@dataclass
class Owner:
    """An owner's contexts, in the order they appeared."""

    id: str
    uses: dict[tuple[str, str], Use] = field(default_factory=dict)
    _est: dict[ContextKey, datetime | None] = field(default_factory=dict, repr=False)
    _ci: tuple[datetime | None, datetime | None, int] | None = field(default=None, repr=False)

    @property
    def first_seen(self) -> datetime | None:
        return min((u.first_seen for u in self.uses.values()), default=None)

    def established(self, use: Use, t: datetime, pol: Policy) -> bool:
        """Seen on several days before `t`: the owner's by recurrence."""
        if use.key not in self._est:
            self._est[use.key] = use.established_from(pol)
        since = self._est[use.key]
        return since is not None and t >= since

    def established_uses(self, t: datetime, pol: Policy,
                         skip: Iterable[ContextKey] = ()) -> list[Use]:
        skipped = set(skip)
        return [u for u in self.uses.values()
                if u.key not in skipped and self.established(u, t, pol)]

    def prior(self, t: datetime, skip: Iterable[ContextKey] = ()) -> list[Use]:
        skipped = set(skip)
        return [u for u in self.uses.values() if u.first_seen < t and u.key not in skipped]

    @property
    def is_person(self) -> bool:
        """A person's identity, not a machine's: an SSO user, or one that signs in to the
        console or uses a browser. People take their laptop to other networks; machines do
        not move."""
        return "/AWSReservedSSO_" in self.id or any(
            u.sign_ins or u.client in ("browser", "console") for u in self.uses.values())

    def signed_in_near(self, ips: Iterable[str], t: datetime, hours: float) -> bool:
        """The owner signed in interactively from one of these addresses within `hours` of
        `t`: a context there is the person at their keyboard."""
        wanted = set(ips)
        window = timedelta(hours=hours)
        return any(ip in wanted and abs(ts - t) <= window
                   for u in self.uses.values() for ip, ts in u.sign_ins)

    def is_ci(self, t: datetime, pol: Policy) -> bool:
        """A CI credential at `t`: it has established use, all of it with a CI runner's
        execution environment, and plenty of it."""
        if self._ci is None:
            ci_from: datetime | None = None
            other_from: datetime | None = None
            ci_events = 0
            for u in self.uses.values():
                since = u.established_from(pol)
                if since is None:
                    continue
                if is_ci_client(u.client):
                    ci_from = since if ci_from is None else min(ci_from, since)
                    ci_events += u.events
                else:
                    other_from = since if other_from is None else min(other_from, since)
            self._ci = (ci_from, other_from, ci_events)
        ci_from, other_from, ci_events = self._ci
        return (ci_from is not None and ci_from <= t and ci_events >= pol.ci_min_events
                and (other_from is None or t < other_from))


class Reference:
    """What an owner's use looked like before a moment, from its contexts not found the
    attacker's: the first two contexts (time, key) to show each client, network and API, so
    "before `t`, leaving context X out" is a lookup, not a scan of the owner's history."""

    def __init__(self, owner: Owner, leave_out: set[ContextKey]) -> None:
        uses = [u for u in owner.uses.values() if u.key not in leave_out]
        self._clients: dict[str, list[tuple[datetime, ContextKey]]] = {}
        self._nets: dict[str, list[tuple[datetime, ContextKey]]] = {}
        self._apis: dict[str, list[tuple[datetime, ContextKey]]] = {}
        self._starts = sorted((u.first_seen, u.key) for u in uses)[:2]
        day_total: dict[date, int] = {}
        for u in uses:
            _keep2(self._clients.setdefault(u.client, []), (u.first_seen, u.key))
            _keep2(self._nets.setdefault(u.network, []), (u.first_seen, u.key))
            for api, first in u.apis.items():
                _keep2(self._apis.setdefault(api, []), (first, u.key))
            for day, n in u.day_counts.items():
                day_total[day] = day_total.get(day, 0) + n
        self._days = sorted(day_total)
        self._cum: list[int] = []
        total = 0
        for d in self._days:
            total += day_total[d]
            self._cum.append(total)
        self._uses = {u.key: u for u in uses}
        self._by_cred: dict[str, list[Use]] = {}
        self._print_days: dict[str, list[tuple[ContextKey, set[date]]]] = {}
        for u in uses:
            for c in u.creds:
                self._by_cred.setdefault(c, []).append(u)
            for fp, days in u.ua_days.items():
                self._print_days.setdefault(fp, []).append((u.key, days))

    @staticmethod
    def _before(tops: list[tuple[datetime, ContextKey]] | None, t: datetime,
                skip: ContextKey) -> bool:
        return any(first < t and key != skip for first, key in tops or ())

    def start(self, skip: ContextKey) -> datetime | None:
        return next((first for first, key in self._starts if key != skip), None)

    def has_client(self, client: str, t: datetime, skip: ContextKey) -> bool:
        return self._before(self._clients.get(client), t, skip)

    def clients(self, t: datetime, skip: ContextKey) -> set[str]:
        return {c for c, tops in self._clients.items() if self._before(tops, t, skip)}

    def has_network(self, network: str, t: datetime, skip: ContextKey) -> bool:
        return self._before(self._nets.get(network), t, skip)

    def has_api(self, api: str, t: datetime, skip: ContextKey) -> bool:
        return self._before(self._apis.get(api), t, skip)

    def events(self, t: datetime, skip: ContextKey) -> int:
        """Events before `t` (day-grained, as `Use.events_before`), `skip` left out."""
        i = bisect_right(self._days, t.date())
        total = self._cum[i - 1] if i else 0
        u = self._uses.get(skip)
        return total - (u.events_before(t) if u is not None else 0)

    def device(self, fingerprint: str, t: datetime, skip: ContextKey, min_days: int) -> bool:
        """The owner's own installation of a client: this exact user-agent fingerprint used
        on `min_days` days before `t`, elsewhere than `skip`."""
        d = t.date()
        days = {day for key, ds in self._print_days.get(fingerprint, ()) if key != skip
                for day in ds if day < d}
        return len(days) >= min_days

    def uses_of(self, cred: str) -> list[Use]:
        """The owner's contexts (outside the attacker's) that used this credential."""
        return self._by_cred.get(cred, [])

    def empty(self, t: datetime, skip: ContextKey) -> bool:
        start = self.start(skip)
        return start is None or start >= t


def _keep2(tops: list[tuple[datetime, ContextKey]], item: tuple[datetime, ContextKey]) -> None:
    tops.append(item)
    tops.sort()
    del tops[2:]


@dataclass(frozen=True)
class OrgUse:
    """Another owner's use of an address of a network of interest."""

    owner: str
    ip: str
    client: str
    first: datetime
    days: tuple[date, ...]


class History:
    """The loaded owners' events (`kev`) and their contexts."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, pol: Policy) -> None:
        self.conn = conn
        self.pol = pol
        self.loaded_owners: set[str] = set()
        self.loaded_creds: set[str] = set()
        self._owners: tuple[tuple[int, int, frozenset[str]], dict[str, Owner]] | None = None
        conn.execute(f"CREATE OR REPLACE TEMP TABLE kev AS {self._select()} WHERE false")

    @staticmethod
    def _select() -> str:
        foreign = ", ".join(f"'{n}'" for n in FOREIGN_MINT_EVENTS)
        return f"""
            SELECT event_id, event_time, CAST(event_time AS DATE) AS day,
                   {owner_sql()} AS owner, {cred_sql()} AS cred,
                   coalesce(i.net, 'unknown') AS net, coalesce(u.cli, 'none') AS cli,
                   source_ip, user_agent, u.fp AS ua_print, event_name, event_source,
                   {event_stage_sql()} AS stage, error_code, identity_type, principal_arn,
                   coalesce(account_id, account) AS acct, account, target_user,
                   created_access_key_id, session_access_key_id, assumed_role_arn,
                   shared_event_id,
                   (event_name IN ({foreign}) AND error_code IS NULL
                    AND NOT {own_target_sql()}) AS foreign_mint,
                   (event_name IN ('CreateAccessKey', 'UpdateAccessKey', 'DeleteAccessKey')
                    AND {own_target_sql()}) AS housekeeping,
                   (event_name = 'CreateAccessKey' AND error_code IS NULL
                    AND identity_type = 'IAMUser' AND {own_target_sql()}) AS self_mint,
                   (event_name = 'ConsoleLogin' AND error_code IS NULL
                    AND error_message IS NULL
                    AND coalesce(json_extract_string(response_elements, '$.ConsoleLogin'), '')
                        <> 'Failure') AS signed_in
            FROM events LEFT JOIN fp_ip i ON i.ip = source_ip
            LEFT JOIN fp_ua u ON u.ua = user_agent"""

    # -- loading ----------------------------------------------------------------------------

    def load_owners(self, owners: Iterable[str]) -> set[str]:
        """Load every event of these owners; returns the ones that were new."""
        new = {o for o in owners if o} - self.loaded_owners
        if not new:
            return set()
        keys = sorted(o for o in new if o.startswith("AKIA"))
        arns = sorted(o for o in new if not o.startswith("AKIA"))
        self.conn.register("kev_keys", pa.table({"k": pa.array(keys, pa.string())}))
        self.conn.register("kev_arns", pa.table({"k": pa.array(arns, pa.string())}))
        try:
            # Filter on the cheap columns first; the owner expression only where it can match.
            self.conn.execute(f"""
                INSERT INTO kev SELECT * FROM ({self._select()}
                    WHERE access_key_id IN (SELECT k FROM kev_keys)
                       OR ((access_key_id IS NULL OR access_key_id NOT LIKE 'AKIA%')
                           AND ({owner_sql()}) IN (SELECT k FROM kev_arns)))
                WHERE event_id NOT IN (SELECT event_id FROM kev)""")
        finally:
            self.conn.unregister("kev_keys")
            self.conn.unregister("kev_arns")
        self.loaded_owners |= new
        return new

    def load_creds(self, creds: Iterable[str]) -> set[str]:
        """Load every event made with these credentials (console sign-ins: the sign-in)."""
        new = {c for c in creds if c} - self.loaded_creds
        if not new:
            return set()
        keys = sorted(c for c in new if not c.startswith("console:"))
        logins = sorted(c.split(":", 1)[1] for c in new if c.startswith("console:"))
        self.conn.register("kev_keys", pa.table({"k": pa.array(keys, pa.string())}))
        self.conn.register("kev_arns", pa.table({"k": pa.array(logins, pa.string())}))
        try:
            self.conn.execute(f"""
                INSERT INTO kev SELECT * FROM ({self._select()}
                    WHERE access_key_id IN (SELECT k FROM kev_keys)
                       OR event_id IN (SELECT k FROM kev_arns))
                WHERE event_id NOT IN (SELECT event_id FROM kev)""")
        finally:
            self.conn.unregister("kev_keys")
            self.conn.unregister("kev_arns")
        self.loaded_creds |= new
        return new

    # -- aggregates -------------------------------------------------------------------------

    def owners(self, exclude_creds: set[str]) -> dict[str, Owner]:
        """Every loaded owner's contexts, leaving out the events of `exclude_creds` (the
        same answer again while nothing was loaded or excluded since)."""
        state = (len(self.loaded_owners), len(self.loaded_creds), frozenset(exclude_creds))
        if self._owners is None or self._owners[0] != state:
            self._owners = (state, self._aggregate(exclude_creds))
        return self._owners[1]

    def _aggregate(self, exclude_creds: set[str]) -> dict[str, Owner]:
        c = self.conn
        c.register("kev_x", pa.table({"k": pa.array(sorted(exclude_creds), pa.string())}))
        try:
            base = ("(SELECT * FROM kev WHERE owner IS NOT NULL "
                    "AND (cred IS NULL OR cred NOT IN (SELECT k FROM kev_x)))")
            apis = c.execute(f"""
                SELECT owner, net, cli, event_name, min(event_time), max(event_time), count(*),
                       min(event_time) FILTER (WHERE error_code IS NULL AND NOT housekeeping
                                               AND list_contains(?, stage)),
                       any_value(stage)
                FROM {base} GROUP BY owner, net, cli, event_name
            """, [sorted(STRONG_STAGES)]).fetchall()
            days = c.execute(f"""
                SELECT owner, net, cli, day, count(*) FROM {base}
                GROUP BY owner, net, cli, day""").fetchall()
            ips = c.execute(f"""
                SELECT owner, net, cli, source_ip, min(event_time) FROM {base}
                WHERE source_ip IS NOT NULL GROUP BY owner, net, cli, source_ip""").fetchall()
            rest = c.execute(f"""
                SELECT owner, net, cli, list(DISTINCT cred) FILTER (WHERE cred IS NOT NULL)
                FROM {base} GROUP BY owner, net, cli""").fetchall()
            prints = c.execute(f"""
                SELECT owner, net, cli, ua_print, list(DISTINCT day) FROM {base}
                WHERE ua_print IS NOT NULL GROUP BY owner, net, cli, ua_print""").fetchall()
            alerts = c.execute(f"""
                SELECT k.owner, k.net, k.cli, a.rule_id, max(a.rank), any_value(a.stage),
                       min(k.event_time), count(DISTINCT k.day), bool_or(a.validator)
                FROM {base} k JOIN alert_events a USING (event_id)
                GROUP BY k.owner, k.net, k.cli, a.rule_id""").fetchall()
            logins = c.execute(f"""
                SELECT l.owner, l.net, l.cli, l.source_ip, l.event_time
                FROM {base} l LEFT JOIN kev g
                  ON g.event_name = 'GetSigninToken' AND g.principal_arn = l.principal_arn
                 AND g.event_time <= l.event_time
                 AND g.event_time >= l.event_time - INTERVAL 15 MINUTE
                WHERE l.signed_in AND l.source_ip IS NOT NULL
                GROUP BY l.event_id, l.owner, l.net, l.cli, l.source_ip, l.event_time
                HAVING count(g.event_id) = 0""").fetchall()
            special = c.execute(f"""
                SELECT owner, net, cli, event_id, event_time, event_name,
                       coalesce(nullif(target_user, ''),
                                regexp_extract(principal_arn, '/([^/]+)$', 1)),
                       CASE WHEN foreign_mint THEN 'foreign' WHEN self_mint THEN 'self'
                            ELSE 'root-login' END
                FROM {base}
                WHERE foreign_mint OR self_mint
                   OR (event_name = 'ConsoleLogin' AND identity_type = 'Root'
                       AND error_code IS NULL)
                ORDER BY event_time, event_id""").fetchall()
        finally:
            c.unregister("kev_x")
        out: dict[str, Owner] = {}

        def use(o: str, n: str, cl: str, t: datetime) -> Use:
            own = out.setdefault(o, Owner(o))
            u = own.uses.get((n, cl))
            if u is None:
                u = own.uses[(n, cl)] = Use(o, n, cl, t, t)
            return u

        for o, n, cl, api, first, last, cnt, strong_first, stage in apis:
            u = use(o, n, cl, first)
            u.first_seen = min(u.first_seen, first)
            u.last_seen = max(u.last_seen, last)
            u.events += int(cnt)
            u.apis[api] = first
            if strong_first is not None:
                u.strong[api] = (stage, strong_first)
        for o, n, cl, day, cnt in days:
            out[o].uses[(n, cl)].day_counts[day] = int(cnt)
        for o, n, cl, ip, first in ips:
            out[o].uses[(n, cl)].ips[ip] = first
        for o, n, cl, creds in rest:
            out[o].uses[(n, cl)].creds = set(creds or [])
        for o, n, cl, fp, days in prints:
            u = out[o].uses[(n, cl)]
            u.uas.add(fp)
            u.ua_days[fp] = set(days or [])
        for o, n, cl, rule, rank, stage, first, ndays, validator in alerts:
            out[o].uses[(n, cl)].alerts[rule] = RuleHit(int(rank or 0), stage, first,
                                                        int(ndays), bool(validator))
        for o, n, cl, ip, t in logins:
            out[o].uses[(n, cl)].sign_ins.append((ip, t))
        for o, n, cl, eid, t, name, target, what in special:
            u = out[o].uses[(n, cl)]
            if what == "foreign":
                u.foreign_mints.append((eid, t, name, target))
            elif what == "self":
                u.self_mints.append((eid, t, name, target))
            else:
                u.root_logins.append((eid, t))
        return out

    def cred_contexts(self, creds: set[str]) -> dict[str, set[ContextKey]]:
        """The contexts each credential was used in (for labelling its events)."""
        if not creds:
            return {}
        self.conn.register("kev_q", pa.table({"k": pa.array(sorted(creds), pa.string())}))
        try:
            rows = self.conn.execute("""
                SELECT DISTINCT cred, owner, net, cli FROM kev
                WHERE cred IN (SELECT k FROM kev_q)""").fetchall()
        finally:
            self.conn.unregister("kev_q")
        out: dict[str, set[ContextKey]] = {}
        for cred, o, n, cl in rows:
            out.setdefault(cred, set()).add((o, n, cl))
        return out

    def org_uses(self, networks: Iterable[str]) -> dict[str, list[OrgUse]]:
        """network -> every owner's use of its addresses, across the whole store: who else
        was there, with what client, since when, on which days."""
        nets = sorted(n for n in set(networks) if is_routable(n))
        if not nets:
            return {}
        c = self.conn
        c.register("org_n", pa.table({"n": pa.array(nets, pa.string())}))
        try:
            rows = c.execute(f"""
                SELECT i.net, {owner_sql('e')} AS owner, e.source_ip,
                       coalesce(u.cli, 'none'), min(e.event_time),
                       list(DISTINCT CAST(e.event_time AS DATE))
                FROM events e
                JOIN (SELECT ip, net FROM fp_ip WHERE net IN (SELECT n FROM org_n)) i
                  ON i.ip = e.source_ip
                LEFT JOIN fp_ua u ON u.ua = e.user_agent
                GROUP BY 1, 2, 3, 4""").fetchall()
        finally:
            c.unregister("org_n")
        out: dict[str, list[OrgUse]] = {}
        for net, o, ip, cl, first, ds in rows:
            if o is None:
                continue
            out.setdefault(net, []).append(
                OrgUse(o, ip, cl, first, tuple(sorted(ds or []))))
        return out
