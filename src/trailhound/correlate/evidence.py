"""Why a use context is the attacker's: typed evidence, weighed against the owner's history.

Evidence is typed (`kind`), never matched as text:

- `indicator`: what the record itself says - a named attack tool, a credential used outside
  its kind's environment (a CI key without its pipeline), a root console sign-in from a new
  place, or what the context is compared with the owner (a network, client or API new to it);
- `rule`: a detection rule's alert, unusual for this owner;
- `mint`: the context minted a credential for another identity, or minted one the attacker
  then used (found climbing the lineage); for a credential it is "minted by the attacker";
- `pivot`: an address or client fingerprint proven the attacker's on another credential;
- `context`: how an event of a stolen credential that proves nothing by itself was labelled.

Decisive evidence makes the context the attacker's alone; the rest is weighed with the
policy's weights against its threshold. Nothing is evidence in a context that is the owner's by
recurrence (seen on several days before), or vouched for by the organisation (the same address
with the same client used by several other owners on several days), or that does only what
the owner's established use does with the owner's client.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from trailhound.correlate.fingerprint import (
    is_audit_tool,
    is_ci_client,
    is_desktop,
    is_offensive,
    is_routable,
)
from trailhound.correlate.history import OrgUse, Owner, Reference, Use
from trailhound.correlate.policy import Policy

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
_KEY_HOUSEKEEPING = frozenset({"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"})
KINDS = ("indicator", "rule", "mint", "pivot", "context")


@dataclass(frozen=True)
class Evidence:
    """One reason, typed. `name` says which reason of its kind; `value` what it is about (a
    tool, a rule id, an address, a parent key); `event_id` the record it rests on."""

    kind: str
    name: str
    decisive: bool = False
    weight: int = 0
    value: str | None = None
    event_id: str | None = None
    time: datetime | None = None
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.value is not None:
            d["value"] = self.value
        if self.event_id is not None:
            d["event_id"] = self.event_id
        if self.text:
            d["text"] = self.text
        return d


@dataclass
class Judgement:
    """A context weighed: its evidence, and what it was compared with."""

    use: Use
    evidence: list[Evidence] = field(default_factory=list)
    owner_like: bool = False
    coherent: bool = False
    has_history: bool = False

    @property
    def score(self) -> int:
        return sum(e.weight for e in self.evidence)

    @property
    def decisive(self) -> list[Evidence]:
        return [e for e in self.evidence if e.decisive]

    def attacker(self, pol: Policy) -> bool:
        return bool(self.decisive) or self.score >= pol.threshold

    def first_reason(self) -> Evidence | None:
        """The strongest reason: decisive ones first, in time order, then by weight."""
        if not self.evidence:
            return None
        return sorted(self.evidence, key=lambda e: (not e.decisive, -e.weight,
                                                    e.time or datetime.max, e.name))[0]


@dataclass
class Knowledge:
    """What weighing a context needs beyond the owner: the organisation's use of networks,
    the attacker's proven indicators, and who cannot vouch (credentials in the attacker's
    hands)."""

    pol: Policy
    org: dict[str, list[OrgUse]]
    attacker_owners: set[str]
    # address / exact user agent -> the attacker context it was proven on
    pivot_ips: dict[str, tuple[str, str, str]]
    pivot_uas: dict[str, tuple[str, str, str]]
    is_rotation: Callable[[str, datetime, str | None], bool]
    # Contexts found the attacker's so far: never the reference for what the owner does.
    attackers: set[tuple[str, str, str]] = field(default_factory=set)
    _by_ip: dict[tuple[str, str], list[OrgUse]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for net, uses in self.org.items():
            for o in uses:
                if o.owner not in self.attacker_owners:
                    self._by_ip.setdefault((net, o.ip), []).append(o)

    def _owners_at(self, use: Use, ip: str, t: datetime, client: str | None) -> int:
        d = t.date()
        owners = {o.owner for o in self._by_ip.get((use.network, ip), ())
                  if o.owner != use.owner and (client is None or o.client == client)
                  and bisect_left(o.days, d) >= self.pol.org_known_min_days}
        return len(owners)

    def vouched(self, use: Use, ip: str, t: datetime) -> bool:
        """Several other owners used this address with this client on several days
        before `t`."""
        return self._owners_at(use, ip, t, use.client) >= self.pol.org_known_min_owners

    def org_address(self, use: Use, ip: str, t: datetime) -> bool:
        """The address is the organisation's own infrastructure: several other owners used
        it, with any client, on several days before `t` (the security team's scanner host,
        a NAT gateway). Attackers do not work from there unless that host is theirs."""
        return self._owners_at(use, ip, t, None) >= self.pol.org_known_min_owners

    def new_to_org(self, use: Use, t: datetime) -> bool:
        """Nobody else (outside the attacker's hands) used this network before `t`."""
        return not any(o.owner != use.owner and o.owner not in self.attacker_owners
                       and o.first < t for o in self.org.get(use.network, ()))


def routine_rules(owner: Owner, pol: Policy) -> set[str]:
    """Rules that fire on the owner's established use: its normal, not evidence."""
    out = set()
    for u in owner.uses.values():
        for rule, hit in u.alerts.items():
            if owner.established(u, hit.first, pol):
                out.add(rule)
    return out


def weigh(use: Use, owner: Owner, ref: Reference, k: Knowledge, routine: set[str]
          ) -> Judgement:
    """The evidence that `use` is not its owner's. `ref` is the owner's history without
    the attacker's contexts found so far."""
    pol = k.pol
    w = pol.weights
    t = use.first_seen
    me = use.key
    j = Judgement(use)
    # The reference: what the owner did before this context appeared. (Recurrence is a
    # stronger notion, used for "this context is the owner's"; the reference only says
    # what the owner's use looks like.)
    ref_start = ref.start(me)
    j.has_history = (ref_start is not None and ref.events(t, me) >= pol.prior_min_events
                     and ref_start <= t - timedelta(hours=pol.prior_min_hours))
    knows = j.has_history and ref_start is not None and (
        ref_start <= t - timedelta(hours=pol.baseline_min_hours))
    known_client = ref.has_client(use.client, t, me)
    j.owner_like = (j.has_history and known_client
                    and all(ref.has_api(a, t, me) for a in use.apis))
    vouched_all = bool(use.ips) and all(k.vouched(use, ip, first)
                                        for ip, first in use.ips.items())
    # Where the owner signed in interactively (not a federation the owner's token asked
    # for) is where the person is: their session's use from there is theirs.
    signed_in = owner.signed_in_near(use.ips, t, pol.console_session_hours)
    # A person's own laptop on another network (travel, home): the exact installation of
    # their client they used for days. Machines do not travel: only for people (SSO and
    # console users) or for a desktop installation (macOS, Windows: nobody's CI runner).
    own_device = (bool(use.uas)
                  and all((owner.is_person or is_desktop(fp))
                          and ref.device(fp, t, me, pol.established_min_days)
                          for fp in use.uas))
    j.coherent = vouched_all or signed_in or own_device
    ev = j.evidence

    def mine(te: datetime) -> bool:
        """At `te` the context was the owner's: recurrent, or vouched for."""
        return owner.established(use, te, pol) or j.coherent

    # -- what the record itself says ------------------------------------------------------
    in_house = bool(use.ips) and all(k.org_address(use, ip, first)
                                     for ip, first in use.ips.items())
    if is_offensive(use.client) and not known_client:
        # From the organisation's own hosts it is its security team at work: it weighs.
        ev.append(Evidence("indicator", "offensive-tool", decisive=not in_house,
                           weight=0 if not in_house else w["audit_tool"], value=use.client,
                           time=t, text=f"attack tool user agent ({use.client})"
                           + (" from the organisation's own hosts" if in_house else "")))
    elif (is_audit_tool(use.client) and not known_client and not j.owner_like
          and not mine(t)):
        ev.append(Evidence("indicator", "audit-tool", weight=w["audit_tool"],
                           value=use.client, time=t,
                           text=f"audit tool the owner never ran ({use.client})"))
    if (is_routable(use.network) and not is_ci_client(use.client) and owner.is_ci(t, pol)
            and not mine(t)):
        ev.append(Evidence("indicator", "outside-ci", decisive=True, value=use.client, time=t,
                           text="CI credential used without its pipeline's execution "
                                f"environment ({use.client})"))
    new_net = not ref.has_network(use.network, t, me)
    for eid, tl in use.root_logins:
        if (is_routable(use.network) and not owner.established(use, tl, pol)
                and not vouched_all
                and (k.new_to_org(use, tl) or (j.has_history and new_net))):
            ev.append(Evidence("indicator", "root-console-new-place", decisive=True,
                               value=use.network, event_id=eid, time=tl,
                               text="root console sign-in from a network root never used"))
    # A role's session in two places at once: where the role's sessions always run, and
    # somewhere they never do, with another client or other calls. A machine's session
    # credential does not travel; a copy of it does. (People's sessions do travel: only
    # role sessions that are not a person's.)
    if (":role/" in owner.id and is_routable(use.network) and not j.owner_like
            and not mine(t)):
        home = next((c for c in sorted(use.creds) for u2 in ref.uses_of(c)
                     if u2.key != me and owner.established(u2, t, pol)), None)
        if home is not None:
            ev.append(Evidence("indicator", "off-host", decisive=True, value=home, time=t,
                               text=f"session {home} used away from where the role's sessions "
                                    f"run ({use.network}, {use.client})"))
    # -- credentials minted for other identities --------------------------------------------
    # Decisive only when the owner has a history the context is new to: a credential's
    # first and only context minting for others (an administrator's first day in the trail)
    # is what it is; it weighs. A rotation (the old key retired soon after, the new one used
    # where the old one was) is housekeeping, whoever does it and from wherever.
    rotations = 0
    for eid, tm, name, target in use.foreign_mints:
        if k.is_rotation(eid, tm, target):
            rotations += 1
            continue
        if mine(tm) or j.owner_like:
            continue
        ev.append(Evidence("mint", "foreign-mint", decisive=j.has_history,
                           weight=w["foreign_mint"], value=target, event_id=eid, time=tm,
                           text=f"{name} for another identity ({target}) from a context its "
                                "owner never used"))
    # A second key for the caller's own user that retires no old one: persistence on the
    # stolen identity (a rotation is housekeeping).
    for eid, tm, _name, target in use.self_mints:
        if k.is_rotation(eid, tm, target):
            rotations += 1
            continue
        if mine(tm) or j.owner_like:
            continue
        ev.append(Evidence("mint", "self-mint", weight=w["foreign_mint"], value=target,
                           event_id=eid, time=tm,
                           text=f"a second access key for its own user ({target}) from a "
                                "context its owner never used, no old key retired"))
    rotation_only = rotations > 0 and not any(e.kind == "mint" for e in ev)
    # -- rules --------------------------------------------------------------------------------
    medium_stages: set[str] = set()
    for rule, hit in sorted(use.alerts.items()):
        if rule in routine or j.owner_like or mine(hit.first):
            continue
        if not knows and not (j.has_history and hit.rank >= SEVERITY_RANK["high"]):
            continue
        if rotation_only and hit.stage == "persistence":
            continue  # the rotation's own key calls
        if hit.rank >= SEVERITY_RANK["high"]:
            # Decisive once the owner's use is known (a day): before that, an owner's second
            # tool or first big job is as unusual as an attacker.
            ev.append(Evidence("rule", "rule-high", decisive=knows,
                               weight=w["rule_high"], value=rule, time=hit.first,
                               text=f"high alert {rule}, unusual for this owner"))
        elif (hit.rank >= SEVERITY_RANK["medium"] and hit.stage not in medium_stages
              and len(medium_stages) < pol.rule_medium_cap):
            medium_stages.add(hit.stage or rule)
            ev.append(Evidence("rule", "rule-medium", weight=w["rule_medium"], value=rule,
                               time=hit.first, text=f"alert {rule}, unusual for this owner"))
    # -- the context compared with the owner ----------------------------------------------
    if knows and not j.owner_like and not mine(t):
        if is_routable(use.network) and new_net:
            ev.append(Evidence("indicator", "network-new-to-owner",
                               weight=w["network_new_to_owner"], value=use.network, time=t,
                               text=f"network {use.network} new to this owner"))
            if k.new_to_org(use, t):
                ev.append(Evidence("indicator", "network-new-to-org",
                                   weight=w["network_new_to_org"], value=use.network, time=t,
                                   text=f"network {use.network} new to the organisation"))
        if not known_client:
            ev.append(Evidence("indicator", "client-new-to-owner",
                               weight=w["client_new_to_owner"], value=use.client, time=t,
                               text=f"client {use.client} new to this owner"))
        if not ref.empty(t, me):
            new_strong = sorted(a for a in use.strong if not ref.has_api(a, t, me)
                                and not (rotation_only and a in _KEY_HOUSEKEEPING))
            if new_strong:
                stages = sorted({use.strong[a][0] for a in new_strong})
                ev.append(Evidence("indicator", "strong-apis-new",
                                   weight=w["strong_apis_new"], value=", ".join(new_strong[:5]),
                                   time=min(use.strong[a][1] for a in new_strong),
                                   text="did what the owner never did: " + ", ".join(stages)))
    # -- indicators proven elsewhere ----------------------------------------------------
    if not j.coherent:
        pivot = next(((ip, src) for ip, src in sorted(k.pivot_ips.items())
                      if ip in use.ips and src != use.key), None)
        if pivot is None:
            pivot = next(((ua, src) for ua, src in sorted(k.pivot_uas.items())
                          if ua in use.uas and src != use.key), None)
        if pivot is not None:
            value, (src_owner, src_net, src_cli) = pivot
            ev.append(Evidence("pivot", "pivot", weight=w["pivot"], value=value, time=t,
                               text=f"{value} was the attacker's ({src_net}, {src_cli}) on "
                                    f"{src_owner}"))
    return j
