"""Per-process caches shared by the traffic generators: object catalogues, session keys.

A generator needs, for a bucket, a stable list of object keys and sizes, and for an instance
or a person, the temporary key of the session active at a given time. Both are derived from the
seed alone and cached per process, so workers never exchange them.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from dataclasses import dataclass, field

from trailhound.simulate import names
from trailhound.simulate.org import Bucket, Org, key_id, stable_rng
from trailhound.simulate.records import Record, iso

Event = tuple[int, Record]
INSTANCE_CRED_HOURS = 6


@dataclass
class Ctx:
    org: Org
    _objects: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)
    _bucket_cum: list[float] = field(default_factory=list)
    cache: dict[str, dict] = field(default_factory=dict)

    def obj(self, b: Bucket, i: int) -> tuple[str, int]:
        """Object `i` of bucket `b` (key, size), derived from (seed, bucket, i) on demand so a
        process only pays for the objects it touches. Low indexes are the popular ones."""
        cache = self._objects.get(b.name)
        if cache is None:
            cache = self._objects[b.name] = {}
        o = cache.get(i)
        if o is None:
            h = hashlib.blake2b(f"{self.org.seed}/{b.name}/{i}".encode(), digest_size=16)
            v = int.from_bytes(h.digest(), "big")
            k = names.object_key_from(v, b.kind, i)
            # Log-normal sizes around the bucket's mean, from the hash's low bits.
            u1 = ((v & 0xFFFFFFFF) + 1) / 4294967297.0
            u2 = (((v >> 32) & 0xFFFFFFFF) + 1) / 4294967297.0
            z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)
            size = max(64, int(b.mean_size * math.exp(z - 0.5)))
            o = cache[i] = (k, size)
        return o

    def random_object(self, rng: random.Random, b: Bucket) -> tuple[str, int]:
        return self.obj(b, int(rng.random() * b.n_objects))

    def popular_bucket(self, rng: random.Random) -> Bucket:
        """A tenant bucket, popular tenants far more often (web traffic is Zipf-like)."""
        tb = self.org.tenant_buckets
        if not self._bucket_cum:
            order = stable_rng("popularity", self.org.seed)
            ranks = list(range(1, len(tb) + 1))
            order.shuffle(ranks)
            acc = 0.0
            for r, b in zip(ranks, tb, strict=True):
                acc += (1.0 / r ** 0.9) * (0.3 if b.kind in ("db", "mail") else 1.0)
                self._bucket_cum.append(acc)
        x = rng.random() * self._bucket_cum[-1]
        return tb[bisect.bisect_left(self._bucket_cum, x)]

    def popular_object(self, rng: random.Random, b: Bucket) -> tuple[str, int]:
        return self.obj(b, int(b.n_objects * rng.random() ** 3))


_SESSIONS: dict[tuple[int, str, int], tuple[str, str, int]] = {}


def instance_session(org: Org, who: str, t: int) -> tuple[str, str, int]:
    """(ASIA key, creationDate, start) of the instance-profile session of `who` at `t`;
    instance credentials are refreshed every few hours."""
    span = INSTANCE_CRED_HOURS * 3600
    offset = hash_small(who) % 900
    block = (t - org.t0 - offset) // span
    ck = (org.seed, who, block)
    got = _SESSIONS.get(ck)
    if got is None:
        start = org.t0 + block * span + offset
        got = _SESSIONS[ck] = (key_id("ASIA", org.seed, who, block), iso(start), start)
    return got


_HASHES: dict[str, int] = {}


def hash_small(s: str) -> int:
    got = _HASHES.get(s)
    if got is not None:
        return got
    h = 0
    for ch in s:
        h = (h * 131 + ord(ch)) & 0xFFFFFFF
    _HASHES[s] = h
    return h


def ri(rng: random.Random, a: int, b: int) -> int:
    """`rng.randint(a, b)` at a fraction of its cost (one `random()` call); the tiny bias of
    float scaling does not matter for traffic shapes."""
    return a + int(rng.random() * (b - a + 1))


def rr(rng: random.Random, n: int) -> int:
    """`rng.randrange(n)`, cheaply (see `ri`)."""
    return int(rng.random() * n)


def count(expected: float, rng: random.Random) -> int:
    """A whole number of events around `expected`, with some day-to-day noise."""
    if expected <= 0:
        return 0
    x = expected * rng.uniform(0.85, 1.15)
    n = int(x)
    return n + (1 if rng.random() < x - n else 0)


# Relative activity per UTC hour (a European platform: quiet at night, busy in office hours).
WEB_PROFILE = (3, 2, 2, 2, 2, 3, 5, 7, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 8, 7, 5, 4)
WEB_SUM = sum(WEB_PROFILE)
