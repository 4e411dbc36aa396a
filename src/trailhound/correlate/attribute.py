"""Who used each credential: the owner, the attacker, or someone that cannot be told apart.

The procedure, repeated until nothing changes:

1. **Candidates.** Owners worth weighing: those with an alert of medium severity or more, a
   named tool in a user agent, a credential minted for another identity, a root console
   sign-in; then those the lineage and the pivots reach.
2. **Weigh every context** of every loaded owner against the owner's history (`evidence`).
   A context with decisive evidence, or enough weight, is the attacker's; every credential
   used in it is compromised.
3. **Minted by the attacker = the attacker's, whole.** A credential minted in an attacker
   context (a key created for any user, a session assumed in any account, a federation
   token, a console sign-in and its sessions) is the attacker's in every use, and so on down.
   A legitimate rotation is not a theft (`is_rotation`).
4. **Climb.** A compromised credential minted by a context its owner never used (new, unlike
   the owner, not vouched for) puts that context in the attacker's hands too: the real root.
   A mint from the owner's own use (an administrator issuing a key stolen later) stops it.
5. **Pivot like a responder.** Addresses and exact user agents of the attacker's contexts
   that nobody else used weigh on every other context that shows them.

Then each use of a compromised credential is labelled: the attacker's contexts `attacker`;
the owner's use before the first attacker activity, or recurrent, or vouched for, `legit`;
a later context that does what the owner does with the owner's client `shared` (reported,
never counted as the attacker's); anything else on a stolen credential `attacker`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

from trailhound.correlate.evidence import (
    Evidence,
    Judgement,
    Knowledge,
    routine_rules,
    weigh,
)
from trailhound.correlate.fingerprint import build_lookups, client_sql, is_routable, network_sql
from trailhound.correlate.graph import (
    FOREIGN_MINT_EVENTS,
    HOST_ACCESS_EVENTS,
    Mint,
    build_mints,
    console_children,
    host_children,
    mints_by_events,
    mints_by_parents,
    mints_of_children,
    own_target_sql,
    owner_sql,
    retirements,
)
from trailhound.correlate.history import ContextKey, History, Owner, Reference
from trailhound.correlate.policy import Policy, policy

ATTACKER, SHARED, LEGIT = "attacker", "shared", "legit"


@dataclass(frozen=True)
class Label:
    attribution: str  # attacker | shared | legit
    reason: Evidence


@dataclass
class Attribution:
    """Correlation's answer before incidents are drawn from it."""

    owners: dict[str, Owner] = field(default_factory=dict)
    judged: dict[ContextKey, Judgement] = field(default_factory=dict)
    attacker: dict[ContextKey, Judgement] = field(default_factory=dict)
    compromised: dict[str, str] = field(default_factory=dict)  # credential -> owner
    forced: dict[str, Mint] = field(default_factory=dict)  # credential -> the attacker's mint
    parent: dict[str, str] = field(default_factory=dict)  # credential -> parent in the lineage
    mint_of: dict[str, Mint] = field(default_factory=dict)  # credential -> its mint, if known
    t0: dict[str, datetime] = field(default_factory=dict)  # credential -> first attacker use
    labels: dict[tuple[str, ContextKey], Label] = field(default_factory=dict)
    contexts_of: dict[str, set[ContextKey]] = field(default_factory=dict)

    @property
    def credentials(self) -> set[str]:
        return set(self.compromised) | set(self.forced)

    def reasons_of(self, cred: str) -> list[Evidence]:
        """The evidence that put `cred` in the attacker's hands."""
        if cred in self.forced:
            m = self.forced[cred]
            return [_mint_reason(m)]
        out: list[Evidence] = []
        for key in sorted(self.contexts_of.get(cred, ())):
            j = self.attacker.get(key)
            if j is not None:
                out.extend(j.decisive or j.evidence)
        return out


def _mint_reason(m: Mint) -> Evidence:
    return Evidence("mint", "minted-by-attacker", decisive=True, value=m.parent,
                    event_id=m.event_id, time=m.time,
                    text=f"{m.kind} by {m.parent or 'the attacker'}: minted by the attacker")


def attribute(conn: duckdb.DuckDBPyConnection, pol: Policy | None = None) -> Attribution:
    """`conn` has `events` and `alert_events` (see `build`)."""
    pol = pol or policy()
    build_lookups(conn)
    build_mints(conn)
    hist = History(conn, pol)
    hist.load_owners(_candidate_owners(conn, pol))
    res = Attribution()
    org_cache: dict[str, list] = {}
    climb_ev: dict[ContextKey, list[Evidence]] = {}
    climbed: set[str] = set()
    pivot_ips: dict[str, ContextKey] = {}
    pivot_uas: dict[str, ContextKey] = {}
    rotations: dict[str, bool] = {}

    def is_rotation(event_id: str, when: datetime, target: str | None) -> bool:
        if event_id not in rotations:
            rotations[event_id] = _is_rotation(conn, event_id, when, target, pol)
        return rotations[event_id]

    for _ in range(4 * pol.max_depth):
        owners = hist.owners(set(res.forced))
        nets = {n for o in owners.values() for (n, _c) in o.uses}
        missing = sorted(n for n in nets if n not in org_cache and is_routable(n))
        if missing:
            got = hist.org_uses(missing)
            for n in missing:
                org_cache[n] = got.get(n, [])
        # Owners in the attacker's hands vouch for nothing (attacker-minted keys are their
        # own owners).
        held = set(res.compromised.values()) | {k[0] for k in res.attacker} | set(res.forced)
        know = Knowledge(pol, org_cache, held, pivot_ips, pivot_uas, is_rotation,
                         attackers=set(res.attacker))
        judged: dict[ContextKey, Judgement] = {}
        for o in owners.values():
            routine = routine_rules(o, pol)
            ref = Reference(o, know.attackers)
            for u in o.uses.values():
                j = weigh(u, o, ref, know, routine)
                j.evidence.extend(climb_ev.get(u.key, ()))
                judged[u.key] = j
        # Once the attacker's, always: evidence only grows as more is found (references
        # shrink, vouchers drop out, pivots add up), and this keeps the procedure finite.
        attacker = {k: j for k, j in judged.items()
                    if j.attacker(pol) or k in res.attacker}
        compromised = {c: k[0] for k, j in attacker.items() for c in j.use.creds
                       if c not in res.forced}
        changed = (set(attacker) != set(res.attacker)
                   or set(compromised) != set(res.compromised))
        res.owners, res.judged = owners, judged
        res.attacker, res.compromised = attacker, compromised

        # 3. down the lineage: what the attacker's contexts and credentials minted
        made = _minted_by_attacker(conn, res, pol)
        # Minted by the attacker wins over the credential's own evidence: all its use is theirs.
        new_forced = {m.child: m for m in made if m.child not in res.forced}
        if new_forced:
            res.forced.update(new_forced)
            for c in new_forced:
                res.compromised.pop(c, None)
            hist.load_creds(new_forced)
            changed = True

        # 4. up the lineage: who minted what the attacker used
        todo = sorted(c for c in res.credentials if c not in climbed)
        for c, m in mints_of_children(conn, set(todo)).items():
            res.mint_of[c] = m
        for c in todo:
            climbed.add(c)
            m = res.mint_of.get(c)
            if m is None or not m.parent or m.parent in res.credentials or not m.parent_owner:
                continue
            if hist.load_owners([m.parent_owner]):
                climbed.discard(c)  # judge the minting context once its owner is loaded
                changed = True
                continue
            key = (m.parent_owner, m.network or "unknown", m.client or "none")
            if key in climb_ev or key in res.attacker:
                continue
            if _minted_by_owner(res, key, m, know, pol):
                continue
            climb_ev[key] = [Evidence(
                "mint", "minted-for-attacker", decisive=True, value=c, event_id=m.event_id,
                time=m.time, text=f"{m.kind} from a context its owner never used minted "
                                  f"{c}, which the attacker used")]
            changed = True

        # 5. pivots: the attacker's own addresses and clients
        ips, uas = _indicators(conn, res, pol)
        if set(ips) != set(pivot_ips) or set(uas) != set(pivot_uas):
            pivot_ips.clear()
            pivot_ips.update(ips)
            pivot_uas.clear()
            pivot_uas.update(uas)
            changed = True
            hist.load_owners(_owners_showing(conn, set(ips), set(uas)))
        if not changed:
            break

    res.contexts_of = hist.cred_contexts(res.credentials)
    _link(res)
    _label(res, pol)
    return res


# -- 1. candidates ------------------------------------------------------------------------


def _candidate_owners(conn: duckdb.DuckDBPyConnection, pol: Policy) -> set[str]:
    tools = sorted(pol.tools)
    foreign = ", ".join(f"'{n}'" for n in FOREIGN_MINT_EVENTS)
    tool_match = " OR ".join("contains(lower(user_agent), ?)" for _ in tools) or "false"
    rows = conn.execute(f"""
        SELECT DISTINCT owner FROM (
            SELECT {owner_sql('e')} AS owner FROM events e
            JOIN (SELECT DISTINCT event_id FROM alert_events WHERE rank >= 2 OR validator) a
              USING (event_id)
            UNION ALL
            SELECT {owner_sql()} FROM events WHERE user_agent IS NOT NULL AND ({tool_match})
            UNION ALL
            SELECT {owner_sql()} FROM events
            WHERE event_name IN ({foreign}) AND error_code IS NULL AND NOT {own_target_sql()}
            UNION ALL
            SELECT {owner_sql()} FROM events
            WHERE event_name = 'ConsoleLogin' AND identity_type = 'Root' AND error_code IS NULL
            UNION ALL
            -- A role's session (not a person's) used from two networks with two clients:
            -- maybe in two places at once (see evidence `off-host`).
            SELECT any_value(session_issuer_arn) FROM events e
            JOIN fp_ip i ON i.ip = e.source_ip JOIN fp_ua u ON u.ua = e.user_agent
            WHERE e.access_key_id LIKE 'ASIA%' AND e.identity_type = 'AssumedRole'
              AND NOT contains(coalesce(e.session_issuer_arn, ''), '/AWSReservedSSO_')
            GROUP BY e.access_key_id
            HAVING count(DISTINCT i.net) >= 2 AND count(DISTINCT u.cli) >= 2
        ) WHERE owner IS NOT NULL
    """, tools).fetchall()
    return {o for (o,) in rows}


# -- 3. lineage down ----------------------------------------------------------------------


def _minted_by_attacker(conn: duckdb.DuckDBPyConnection, res: Attribution, pol: Policy
                        ) -> list[Mint]:
    """Mints made in attacker contexts or with credentials minted by the attacker."""
    keys = sorted(res.attacker)
    out: list[Mint] = []
    if keys:
        conn.register("att_ctx", pa.table({
            "owner": pa.array([k[0] for k in keys], pa.string()),
            "net": pa.array([k[1] for k in keys], pa.string()),
            "cli": pa.array([k[2] for k in keys], pa.string())}))
        try:
            names = ", ".join(f"'{n}'" for n in HOST_ACCESS_EVENTS)
            ids = [r[0] for r in conn.execute(f"""
                SELECT k.event_id FROM kev k JOIN att_ctx a USING (owner, net, cli)
                WHERE k.error_code IS NULL AND (k.created_access_key_id IS NOT NULL
                      OR k.session_access_key_id IS NOT NULL
                      OR k.event_name IN ({names}))""").fetchall()]
        finally:
            conn.unregister("att_ctx")
        out += mints_by_events(conn, ids)
        out += host_children(conn, ids)
    out += mints_by_parents(conn, set(res.forced))
    held = {c for k in keys for c in res.attacker[k].use.creds} | set(res.forced)
    out += console_children(conn, held, pol.console_session_hours)
    seen: set[str] = set()
    unique = []
    for m in sorted(out, key=lambda m: (m.time, m.event_id, m.child)):
        if m.child not in seen:
            seen.add(m.child)
            unique.append(m)
    return unique


def _is_rotation(conn: duckdb.DuckDBPyConnection, event_id: str, when: datetime,
                 target: str | None, pol: Policy) -> bool:
    """A key minted for `target` that replaced its previous key: the old key is retired soon
    after, and the new one is first used from where, and with what, the old one was."""
    if not target:
        return False
    made = [m for m in mints_by_events(conn, [event_id]) if m.kind == "CreateAccessKey"]
    if not made:
        return False
    new_key = made[0].child
    retired = [k for k, _t in retirements(conn, {target}, when, pol.rotation_window_days)
               .get(target, []) if k != new_key]
    if not retired:
        return False
    rows = conn.execute(f"""
        SELECT {network_sql()}, {client_sql()} FROM events WHERE access_key_id = ?
        ORDER BY event_time, event_id LIMIT 1""", [new_key]).fetchall()
    first = rows[0] if rows else None
    if first is None:
        return True  # retired and replaced, the new key not used yet: nothing to steal with
    conn.register("rot_keys", pa.table({"k": pa.array(sorted(set(retired)), pa.string())}))
    try:
        old = conn.execute(f"""
            SELECT DISTINCT {network_sql()}, {client_sql()} FROM events
            WHERE access_key_id IN (SELECT k FROM rot_keys) AND event_time < ?""",
            [when]).fetchall()
    finally:
        conn.unregister("rot_keys")
    return tuple(first) in {tuple(r) for r in old}


# -- 4. climbing --------------------------------------------------------------------------


def _minted_by_owner(res: Attribution, key: ContextKey, m: Mint, know: Knowledge,
                     pol: Policy) -> bool:
    """The mint came from its owner's own use: recurrent, vouched for, or doing only what the
    owner did before with the owner's client. Then the climb stops there."""
    owner = res.owners.get(key[0])
    if owner is None:
        return True
    use = owner.uses.get((key[1], key[2]))
    if use is None:
        return True
    if owner.established(use, m.time, pol):
        return True
    if use.ips and all(know.vouched(use, ip, m.time) for ip in use.ips):
        return True
    prior = owner.prior(use.first_seen, skip=[use.key])
    if not prior:
        # Nothing to compare with: the owner's first use. Climbing would blame an owner we
        # know nothing about; the incident starts at the credential the attacker used.
        return True
    clients = {u.client for u in prior}
    apis: set[str] = set().union(*(set(u.apis) for u in prior))
    return use.client in clients and set(use.apis) <= apis


# -- 5. pivots ----------------------------------------------------------------------------


def _indicators(conn: duckdb.DuckDBPyConnection, res: Attribution, pol: Policy
                ) -> tuple[dict[str, ContextKey], dict[str, ContextKey]]:
    """Addresses and exact user agents of the attacker's contexts that nobody else uses as
    their own: each with the credential it was proven on. A value also seen in a context
    that is somebody's recurrent or vouched-for use (a runner the attacker shares, an office
    NAT, a common SDK string) proves nothing."""
    ips: dict[str, ContextKey] = {}
    uas: dict[str, ContextKey] = {}
    # Sources: contexts proven on their own (decisive evidence, or enough weight without a
    # pivot), never one lit by a pivot itself: a pivot must not breed pivots.
    for key in sorted(res.attacker):
        j = res.attacker[key]
        own = [e for e in j.evidence if e.kind != "pivot"]
        if not any(e.decisive for e in own) and sum(e.weight for e in own) < pol.threshold:
            continue
        if is_routable(key[1]):
            for ip in j.use.ips:
                ips.setdefault(ip, key)
        for ua in j.use.uas:
            uas.setdefault(ua, key)
    if not ips and not uas:
        return {}, {}
    conn.register("piv_ip", pa.table({"v": pa.array(sorted(ips), pa.string())}))
    conn.register("piv_ua", pa.table({"v": pa.array(sorted(uas), pa.string())}))
    try:
        rows = conn.execute(f"""
            SELECT e.source_ip, u.fp, {owner_sql('e')} AS owner,
                   coalesce(i.net, 'unknown'), coalesce(u.cli, 'none'),
                   nullif(e.access_key_id, '') AS cred,
                   count(DISTINCT CAST(e.event_time AS DATE)), min(e.event_time)
            FROM events e LEFT JOIN fp_ip i ON i.ip = e.source_ip
            LEFT JOIN fp_ua u ON u.ua = e.user_agent
            WHERE e.source_ip IN (SELECT v FROM piv_ip)
               OR e.user_agent IN (SELECT ua FROM fp_ua WHERE fp IN (SELECT v FROM piv_ua))
            GROUP BY ALL
        """).fetchall()
    finally:
        conn.unregister("piv_ip")
        conn.unregister("piv_ua")
    for ip, ua, owner, net, cli, cred, days, first in rows:
        key = (owner, net, cli)
        # A stolen credential's other contexts are still its owner's: only the attacker's
        # contexts, and credentials the attacker minted, are the attacker's own.
        if key in res.attacker or (cred is not None and cred in res.forced):
            continue
        j = res.judged.get(key)
        o = res.owners.get(owner or "")
        if j is not None and o is not None:
            theirs = j.coherent or o.established(j.use, j.use.last_seen, pol)
        else:
            theirs = int(days) >= pol.established_min_days
        # An address is not the attacker's own when somebody uses it as theirs (a runner the
        # attacker shares, an office NAT). A user agent is not when anybody used it before
        # the attacker did: copying the owner's exact agent is a disguise, not a signature.
        if theirs:
            ips.pop(ip, None)
        src = uas.get(ua)
        if src is not None and (theirs or first < res.attacker[src].use.first_seen):
            uas.pop(ua, None)
    return ips, uas


def _owners_showing(conn: duckdb.DuckDBPyConnection, ips: set[str], uas: set[str]
                    ) -> set[str]:
    if not ips and not uas:
        return set()
    conn.register("piv_ip", pa.table({"v": pa.array(sorted(ips), pa.string())}))
    conn.register("piv_ua", pa.table({"v": pa.array(sorted(uas), pa.string())}))
    try:
        rows = conn.execute(f"""
            SELECT DISTINCT {owner_sql()} FROM events
            WHERE source_ip IN (SELECT v FROM piv_ip)
               OR user_agent IN (SELECT ua FROM fp_ua WHERE fp IN (SELECT v FROM piv_ua))
        """).fetchall()
    finally:
        conn.unregister("piv_ip")
        conn.unregister("piv_ua")
    return {o for (o,) in rows if o}


# -- lineage and labels -------------------------------------------------------------------


def _link(res: Attribution) -> None:
    """parent[c]: the credential whose attacker context minted `c`."""
    held = res.credentials
    for c in sorted(held):
        m = res.forced.get(c) or res.mint_of.get(c)
        if m is None or not m.parent or m.parent not in held or m.parent == c:
            continue
        if c in res.forced:
            res.parent[c] = m.parent
            continue
        key = (m.parent_owner or "", m.network or "unknown", m.client or "none")
        if key in res.attacker:
            res.parent[c] = m.parent
    # No cycles (a key minting its own parent cannot happen, a forged log can).
    for c in sorted(res.parent):
        seen = {c}
        p = res.parent.get(c)
        while p is not None:
            if p in seen:
                del res.parent[c]
                break
            seen.add(p)
            p = res.parent.get(p)


def _label(res: Attribution, pol: Policy) -> None:
    for c in sorted(res.credentials):
        keys = res.contexts_of.get(c, set())
        if c in res.forced:
            reason = _mint_reason(res.forced[c])
            for key in keys:
                res.labels[(c, key)] = Label(ATTACKER, reason)
            times = [res.owners[k[0]].uses[(k[1], k[2])].first_seen for k in keys
                     if k[0] in res.owners and (k[1], k[2]) in res.owners[k[0]].uses]
            res.t0[c] = min(times, default=res.forced[c].time)
            continue
        att = [k for k in keys if k in res.attacker]
        owner = res.owners.get(res.compromised[c])
        t0 = min(res.attacker[k].use.first_seen for k in att) if att else None
        if t0 is not None:
            res.t0[c] = t0
        for key in keys:
            j = res.judged.get(key)
            if key in res.attacker:
                r = res.attacker[key].first_reason()
                res.labels[(c, key)] = Label(ATTACKER, r or Evidence("context", "attacker"))
                continue
            if owner is None or j is None or t0 is None:
                continue
            u = j.use
            pivot = next((e for e in j.evidence if e.kind == "pivot"), None)
            if owner.established(u, t0, pol) or j.coherent:
                res.labels[(c, key)] = Label(LEGIT, Evidence(
                    "context", "owner", text="the owner's recurrent or vouched-for use"))
            elif pivot is not None:
                res.labels[(c, key)] = Label(ATTACKER, pivot)
            elif u.first_seen < t0:
                res.labels[(c, key)] = Label(LEGIT, Evidence(
                    "context", "owner", text="the owner's use before the first attacker "
                                             "activity on this credential"))
            elif _like_owner_before(owner, u, t0, res):
                res.labels[(c, key)] = Label(SHARED, Evidence(
                    "context", "indistinguishable",
                    text="new network, but the owner's client and only the owner's calls: "
                         "cannot be told apart from the owner"))
            else:
                res.labels[(c, key)] = Label(ATTACKER, Evidence(
                    "context", "unlike-owner", value=u.network,
                    text="on a stolen credential, a context unlike the owner's "
                         f"({u.network}, {u.client})"))


def _like_owner_before(owner: Owner, use, t0: datetime, res: Attribution) -> bool:
    ref = [u for u in owner.uses.values() if u.first_seen < t0 and u.key not in res.attacker
           and u.key != use.key]
    if not ref:
        return False
    clients = {u.client for u in ref}
    apis: set[str] = set().union(*(set(u.apis) for u in ref))
    return use.client in clients and set(use.apis) <= apis


def roots(res: Attribution) -> list[str]:
    """Credentials the attacker holds that no other attacker credential minted."""
    return sorted(c for c in res.credentials if c not in res.parent)


def descendants(res: Attribution, root: str) -> list[str]:
    children: dict[str, list[str]] = {}
    for c, p in res.parent.items():
        children.setdefault(p, []).append(c)
    out, todo = [], [root]
    while todo:
        c = todo.pop()
        out.append(c)
        todo.extend(sorted(children.get(c, []), reverse=True))
    return out


def owner_of(res: Attribution, cred: str) -> str | None:
    if cred in res.compromised:
        return res.compromised[cred]
    keys = res.contexts_of.get(cred, set())
    return min((k[0] for k in keys), default=None)


def uses_of(res: Attribution, creds: Iterable[str]) -> set[ContextKey]:
    return {k for c in creds for k in res.contexts_of.get(c, set())}
