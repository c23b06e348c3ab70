"""Random ePMIP domains for the model test, one per seed.

Every domain has what the draft's figures have, in random numbers and places:

* 2-4 eLMAs (``elma1``...), each with one or two /48 prefixes of its own;
* 3-8 eMAGs (``emag1``...), each with a default ``lma:`` drawn among the eLMAs;
* a legacy MAG ``mag1`` whose default LMA is the legacy LMA ``lma`` (§5.1, §6);
* an access router with DRF ``ar1`` (§5.2) with the fixed network ``2001:db8:f::/64`` and the
  fixed host ``cn1`` in it;
* a core of 3-5 ``core`` switches (``c1``...) joined in a ring (so the core has a cycle), with a
  random chord now and then; every other switch hangs off one core switch, an eMAG sometimes off
  two (so a shortest path may pass through an eMAG, never through an (e)LMA);
* 3-6 MNs ``mn1``...: some name an eLMA in their profile (``lma:``), the others do not (their LMA
  is then the default of the MAG they attach to); plus ``mnl``, whose profile ``hnp`` lies in the
  legacy LMA's prefix (DAF is off for it everywhere, §4.1); some MNs get two HNPs (``hnp_count``).

The document is validated by ``controller.config.parse_domain`` like any domain file.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

import yaml

from controller.config import Domain, parse_domain

FIXED_PREFIX = "2001:db8:f::/64"
FIXED_HOST = "cn1"
FIXED_ADDRESS = "2001:db8:f::10"
LEGACY_MN = "mnl"
LEGACY_PREFIX = "2001:db8:1::/48"
# far from the /64s the legacy LMA hands out by position in the file (number i+1 of its prefix), so
# that a profile-less MN registered there never gets mnl's HNP
LEGACY_HNP = "2001:db8:1:ff::/64"


@dataclass(frozen=True)
class ModelDomain:
    """A generated domain: the document (for reports), the parsed ``Domain`` and the names the
    generator and the invariants need."""

    seed: int
    doc: dict
    domain: Domain
    elmas: tuple[str, ...]
    emags: tuple[str, ...]
    legacy_mag: str
    legacy_lma: str
    ar: str
    cores: tuple[str, ...]
    mns: tuple[str, ...]
    fixed_host: str

    @property
    def mags(self) -> tuple[str, ...]:
        return (*self.emags, self.legacy_mag)

    @property
    def yaml(self) -> str:
        return yaml.safe_dump(self.doc, sort_keys=False, default_flow_style=None, width=200)

    def profile_bound(self, mn: str) -> bool:
        """Does the MN's profile fix its LMA (``lma:`` or ``hnp:``)?  If not, its LMA is the
        default of whichever MAG registers it."""
        node = self.domain.mobile_nodes[mn]
        return node.lma is not None or node.hnp is not None

    def default_lma(self, mag: str) -> str:
        lma = self.domain.switches[mag].lma
        assert lma is not None, f"{mag} has no default LMA"
        return lma

    def lma_for(self, mn: str, mag: str) -> str:
        """The LMA ``mag`` registers ``mn`` with (draft §4.1; ``View.select_lma``)."""
        node = self.domain.mobile_nodes[mn]
        if node.hnp is not None:
            return next(s.name for s in self.domain.switches.values() if any(node.hnp.subnet_of(p) for p in s.prefixes))
        return node.lma or self.default_lma(mag)

    def hnps_of(self, mn: str, lma: str) -> list[ipaddress.IPv6Network]:
        """The HNPs ``lma`` gives ``mn`` (docs/domain-file.md: the profile's, else ``hnp_count``
        /64s of the LMA's first prefix: numbers i+1, i+1+M ... for the MN at position i of M)."""
        node = self.domain.mobile_nodes[mn]
        if node.static_hnps:
            return list(node.static_hnps)
        pool = self.domain.switches[lma].prefixes[0]
        index = list(self.domain.mobile_nodes).index(mn) + 1
        stride = len(self.domain.mobile_nodes)
        static = {h for other in self.domain.mobile_nodes.values() for h in other.static_hnps}
        numbers = (index + j * stride for j in range(node.hnp_count + len(static)))
        candidates = (ipaddress.IPv6Network((int(pool.network_address) + (n << 64), 64)) for n in numbers)
        return [h for h in candidates if h not in static][: node.hnp_count]  # static HNPs are skipped

    def candidate_hnps(self, mn: str) -> dict[ipaddress.IPv6Network, str]:
        """Every HNP the MN could hold (whichever LMA it is anchored at) -> that LMA."""
        node = self.domain.mobile_nodes[mn]
        lmas = [self.lma_for(mn, self.legacy_mag)] if node.lma or node.hnp else [*self.elmas, self.legacy_lma]
        return {hnp: lma for lma in lmas for hnp in self.hnps_of(mn, lma)}

    def lma_pools(self) -> list[ipaddress.IPv6Network]:
        """Every (e)LMA prefix: an MN's HNP is a /64 inside one of them."""
        return [p for sw in self.domain.switches.values() if sw.is_lma for p in sw.prefixes]


def generate_domain(seed: int) -> ModelDomain:
    rng = random.Random(f"domain-{seed}")
    dpid = iter(range(1, 1000))
    switches: list[dict] = []
    links: list[list[str]] = []

    def switch(name: str, role: str, **extra: object) -> str:
        n = next(dpid)
        switches.append({"name": name, "dpid": n, "role": role, "address": f"2001:db8:ffff::{n:x}", **extra})
        return name

    cores = [switch(f"c{i}", "core") for i in range(1, rng.randint(3, 5) + 1)]
    for i, c in enumerate(cores):  # the ring: a cycle in the core
        links.append([c, cores[(i + 1) % len(cores)]])
    if len(cores) >= 4 and rng.random() < 0.5:
        links.append([cores[0], cores[2]])  # a chord: two cycles

    def hang(name: str, dual: bool = False) -> None:
        first = rng.choice(cores)
        links.append([name, first])
        others = [c for c in cores if c != first]
        if dual and rng.random() < 0.3:
            links.append([name, rng.choice(others)])

    elmas = []
    block = 0xA0
    for i in range(1, rng.randint(2, 4) + 1):
        prefixes = []
        for _ in range(rng.choice((1, 1, 2))):
            prefixes.append(f"2001:db8:{block:x}::/48")
            block += 1
        elmas.append(switch(f"elma{i}", "elma", prefixes=prefixes))
        hang(elmas[-1])
    legacy_lma = switch("lma", "lma", prefixes=[LEGACY_PREFIX])
    hang(legacy_lma)
    emags = []
    for i in range(1, rng.randint(3, 8) + 1):
        emags.append(switch(f"emag{i}", "emag", lma=rng.choice(elmas)))
        hang(emags[-1], dual=True)
    legacy_mag = switch("mag1", "mag", lma=legacy_lma)
    hang(legacy_mag)
    ar = switch("ar1", "ar_drf")
    hang(ar)
    rng.shuffle(links)  # port numbers follow the order of the links list

    mns = []
    mobile_nodes = []
    mags = [*emags, legacy_mag]
    n_mns = rng.randint(3, 6)
    bound = rng.sample(range(n_mns), k=rng.randint(1, n_mns - 1))  # some with lma:, some without
    for i in range(n_mns):
        mn = {"id": f"mn{i + 1}", "mac": f"02:00:00:00:01:{i + 1:02x}", "attach": rng.choice(mags)}
        if i in bound:
            mn["lma"] = rng.choice(elmas)
        if rng.random() < 0.25:
            mn["hnp_count"] = 2
        mobile_nodes.append(mn)
        mns.append(mn["id"])
    legacy = {"id": LEGACY_MN, "mac": "02:00:00:00:01:ff", "attach": rng.choice(mags), "hnp": LEGACY_HNP}
    mobile_nodes.insert(rng.randint(0, len(mobile_nodes)), legacy)
    mns.append(LEGACY_MN)

    doc = {
        "domain": f"model-{seed}",
        "mode": "epmip",
        "timers": {
            "binding_lifetime": rng.choice((30, 60)),
            "refresh_fraction": 0.5,
            "min_delay_before_bce_delete": rng.choice((5, 10)),
            "query_timeout": 0.5,
            "query_retries": 2,
            "fallback_retry": rng.choice((10, 30)),
        },
        "switches": switches,
        "links": links,
        "fixed_networks": [{"prefix": FIXED_PREFIX, "router": ar}],
        "mobile_nodes": mobile_nodes,
        "fixed_nodes": [{"name": FIXED_HOST, "mac": "02:00:00:00:02:01", "address": FIXED_ADDRESS, "attach": ar}],
    }
    domain = parse_domain(yaml.safe_dump(doc, sort_keys=False), source=f"<model seed {seed}>")
    return ModelDomain(
        seed=seed, doc=doc, domain=domain, elmas=tuple(elmas), emags=tuple(emags), legacy_mag=legacy_mag,
        legacy_lma=legacy_lma, ar=ar, cores=tuple(cores), mns=tuple(mns), fixed_host=FIXED_HOST,
    )  # fmt: skip
