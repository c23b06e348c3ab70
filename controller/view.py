"""A node's configured view of the domain: what one entity knows without being told by a message.

Each node (eMAG, MAG, eLMA, LMA, access router) gets its own ``View``, built once from the domain
file: its own switch, every peer's role, address and MPLS label and the port toward it, the prefix
configuration (§4.4.1), the MN policy profiles (RFC 5213 §2.2 policy store), cookie numbers, timers
and the signalling key.  An entity never reads another entity's objects; what it learns at run
time comes in messages.  A run-time configuration change (a prefix added through REST) is pushed
into every node's view by the composition root, as an operator's configuration push would be.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from controller.config import Domain, FixedNetwork, MobileNode, Switch, Timers
from controller.topology import Topology
from openflow_rules import text

Addr = ipaddress.IPv6Address
Net = ipaddress.IPv6Network
DRF_ROLES = ("emag", "ar_drf", "elma_drf", "bg_drf", "router_drf")  # roles that terminate a direct tunnel (have a DRF)
DMF_ROLES = ("emag", "elma_drf")  # roles whose DMF serves MNs that move (a PBCI goes to the previous one)
ANNOUNCER_ROLES = ("bg_drf", "router_drf")  # lma_daf: routers with DRF that announce the ePMIP area (§7.3)


@dataclass(frozen=True)
class Peer:
    name: str
    role: str
    address: Addr
    label: int
    port: int | None  # this node's port toward the peer; None for the node itself

    @property
    def is_mag(self) -> bool:
        return self.role in ("emag", "mag")

    @property
    def is_lma(self) -> bool:
        return self.role in ("elma", "lma", "elma_drf")

    @property
    def has_drf(self) -> bool:
        return self.role in DRF_ROLES


class Shared:
    """The read-only parts every view of one domain has in common (built once, never mutated), and
    one intern table (``hnps``)."""

    def __init__(self, domain: Domain) -> None:
        self.profiles: Mapping[str, MobileNode] = MappingProxyType(domain.mobile_nodes)
        self.mn_index: Mapping[str, int] = MappingProxyType({m: i for i, m in enumerate(domain.mobile_nodes)})
        self.mn_ids: tuple[str, ...] = tuple(domain.mobile_nodes)  # the same the other way round
        self.fixed_index: Mapping[str, int] = MappingProxyType({n: i for i, n in enumerate(domain.fixed_nodes)})
        # MN (by its index) -> the HNP list an LMA of this process assigned it last: an intern table
        # of immutable values, not shared state.  A MAG whose PBA names exactly these prefixes keeps
        # this list instead of parsing new IPv6Network objects, so the LMA's binding, the MAG's
        # attachment and the DRF's keys hold one object per HNP (about 250 B each; memory per MN,
        # issue 13).  The list is never changed in place (whoever holds it replaces it).  A list by
        # MN index (made at the first assignment): 8 B per MN, where a dict by MN id was ~35.
        self.hnps: list[list[Net] | None] = []


class View:
    def __init__(self, domain: Domain, topo: Topology, me: str, shared: Shared | None = None) -> None:
        shared = shared or Shared(domain)
        self.me: Switch = domain.switches[me]
        self.name = me
        self.dpid = self.me.dpid
        self.address: Addr = self.me.address
        self.address_text = text.address(self.address)  # as messages carry it (a PBQR's requester)
        self.mode = domain.mode
        self.lmf_discovery = domain.lmf_discovery
        self.handoff_buffer = domain.handoff_buffer
        self.timers: Timers = domain.timers
        self.key: bytes | None = domain.signalling_key
        self.router_mac = domain.router_mac
        self.router_ll = str(domain.router_link_local)
        self.profiles = shared.profiles
        self.mn_index = shared.mn_index
        self.mn_ids = shared.mn_ids
        self.fixed_index = shared.fixed_index
        self._hnps = shared.hnps
        self.epoch = 0.0  # added to ``now`` for timestamps (wall-clock like); set by the root
        self.peers: dict[str, Peer] = {
            sw.name: Peer(sw.name, sw.role, sw.address, sw.label, topo.port_toward(me, sw.name))
            for sw in domain.switches.values()
        }
        # by the address's int: an IPv6Address hashes and compares in Python (a PBU's CoA asks twice)
        self._by_address: dict[int, str] = {int(p.address): p.name for p in self.peers.values()}
        # and by the text messages carry (RFC 5952, as text.address writes it): no parse per message
        self._by_address_text: dict[str, str] = {text.address(p.address): p.name for p in self.peers.values()}
        self.default_lma: str | None = self.me.lma
        # §4.4.1 prefix configuration: (prefix, owning (e)LMA); fixed networks and their routers
        self.lma_prefixes: list[tuple[Net, str]] = [
            (p, sw.name) for sw in domain.switches.values() if sw.is_lma for p in sw.prefixes
        ]
        self._prefix_tests: tuple[tuple[int, int, str], ...] = ()
        self._index_prefixes()
        self.fixed_networks: tuple[FixedNetwork, ...] = tuple(domain.fixed_networks)
        # §7 (deployment lma_daf): the ePMIP area, the nearest router announcing it (anycast), the
        # eLMA(DRF)s by distance, the preferred and every LMF (consistent hashing, §7.4)
        self.deployment = domain.deployment
        self.area_prefixes: tuple[Net, ...] = domain.area_prefixes
        self.elma_selection = domain.elma_selection
        alt = domain.deployment == "lma_daf"
        hops = {name: len(topo.path(me, name)) - 1 for name in domain.switches} if alt else {}
        self.hops: dict[str, int] = hops  # configuration: read, never written
        announcers = sorted((hops[p.name], p.name) for p in self.peers.values() if p.role in ANNOUNCER_ROLES)
        self.area_router: str | None = announcers[0][1] if announcers else None
        self.lmfs: tuple[str, ...] = tuple(sorted(p.name for p in self.peers.values() if p.role == "lmf"))
        nearest_lmf = min(self.lmfs, key=lambda n: (hops[n], n)) if self.lmfs else None
        self.my_lmf: str | None = self.me.lmf or nearest_lmf
        self.trunk_port = min((p.port for p in self.peers.values() if p.port is not None), default=0)
        borders = sorted((hops[p.name], p.name) for p in self.peers.values() if p.role == "bg_drf")
        self.border: str | None = borders[0][1] if borders else None

    # ------------------------------------------------------------ peers

    def peer(self, name: str) -> Peer:
        return self.peers[name]

    def peer_at(self, address: Addr | str) -> Peer | None:
        """The node whose configured address is ``address`` (None: not a node of this domain)."""
        if isinstance(address, str):
            name = self._by_address_text.get(address)
            if name is not None:
                return self.peers[name]
        try:
            addr = address if isinstance(address, Addr) else Addr(address)
        except ValueError:
            return None
        name = self._by_address.get(int(addr))
        return self.peers[name] if name is not None else None

    def tunnel_to(self, name: str) -> tuple[int | None, int | None]:
        """(label, port) of a label-switched path to ``name``; (None, None) for this node itself."""
        if name == self.name:
            return None, None
        peer = self.peers[name]
        return peer.label, peer.port

    def now_stamp(self, now: float) -> float:
        return self.epoch + now

    # ------------------------------------------------------------ prefix configuration

    def _index_prefixes(self) -> None:
        """``lma_prefixes`` as (top bits, shift, owner): ``address in prefix`` is a shift and an int
        compare instead of ``IPv6Network.__contains__`` (every query asks; issue 13)."""
        self._prefix_tests = tuple(
            (int(p.network_address) >> (128 - p.prefixlen), 128 - p.prefixlen, owner) for p, owner in self.lma_prefixes
        )

    def own_prefixes(self) -> list[Net]:
        return [p for p, owner in self.lma_prefixes if owner == self.name]

    def owns(self, address: Addr | int) -> bool:
        """``address`` (or its int) is in one of this node's own configured prefixes (an LMF
        manages it)."""
        ip, me = int(address), self.name
        for top, shift, owner in self._prefix_tests:
            if ip >> shift == top and owner == me:
                return True
        return False

    def prefix_owner(self, address: Addr | int) -> Peer | None:
        """The (e)LMA whose configured prefixes hold ``address`` (or its int; §4.4.1), if any."""
        ip = int(address)
        for top, shift, owner in self._prefix_tests:
            if ip >> shift == top:
                return self.peers[owner]
        return None

    def fixed_network_of(self, address: Addr) -> FixedNetwork | None:
        return next((n for n in self.fixed_networks if address in n.prefix), None)

    def in_area(self, address: Addr | Net) -> bool:
        """§7.1: inside the ePMIP area's prefix set (deployment lma_daf)."""
        if isinstance(address, Net):
            return any(address.subnet_of(a) for a in self.area_prefixes)
        return any(address in a for a in self.area_prefixes)

    def find_lmf(self, address: Addr) -> str | None:
        """§4.4.1: the LMF that knows ``address`` by the prefix configuration - the eLMA whose
        prefixes hold it, or for a fixed network the LMF co-located with its access router (§5.2);
        None when the owner is a legacy LMA or nobody (§5.1).  Deployment lma_daf (§7.4): always
        the node's preferred LMF, which relays to the one responsible."""
        if self.deployment == "lma_daf":
            return self.my_lmf
        owner = self.prefix_owner(address)
        if owner is not None:
            return owner.name if owner.role == "elma" else None
        net = self.fixed_network_of(address)
        if net is not None and net.lmf and self.peers[net.router].role == "ar_drf":
            return net.router
        return None

    def preferred_lmf(self) -> str | None:
        """§4.4.3: the eLMA a DRF sends every query to (its own eLMA, else the first eLMA); §7.4: the
        preferred LMF."""
        if self.deployment == "lma_daf":
            return self.my_lmf
        if self.default_lma is not None and self.peers[self.default_lma].role == "elma":
            return self.default_lma
        return next((p.name for p in self.peers.values() if p.role == "elma"), None)

    def add_prefix(self, prefix: Net, owner: str) -> None:
        self.lma_prefixes.append((prefix, owner))
        self._index_prefixes()

    def remove_prefix(self, prefix: Net) -> None:
        self.lma_prefixes = [(p, o) for p, o in self.lma_prefixes if p != prefix]
        self._index_prefixes()

    # ------------------------------------------------------------ MN policy profiles

    def profile_lma(self, mn: MobileNode) -> str | None:
        """The LMA an MN's profile binds it to (its HNP's owner, or a named LMA), if any."""
        if mn.hnp is not None:
            owner = self.prefix_owner(mn.hnp.network_address)
            return owner.name if owner else None
        return mn.lma

    def anchor_of(self, mn: MobileNode) -> str | None:
        """The LMA an MN must be registered with, if its profile fixes one; in deployment lma_daf
        none does (any eLMA(DRF) may serve it, its HNPs stay its own, §7.2)."""
        return None if self.deployment == "lma_daf" else self.profile_lma(mn)

    def registration_lma(self, mn: MobileNode) -> str | None:
        """The LMA a MAG registers ``mn`` with without asking the policy store: the profile's, or
        in deployment lma_daf the best eLMA(DRF) by ``elma_selection`` (RFC 6097 leaves the rule
        open): ``nearest`` - fewest hops from this MAG, ties by name - or ``configured`` - the
        MAG's ``lma``."""
        if self.deployment != "lma_daf":
            return self.profile_lma(mn)
        if self.elma_selection == "configured" and self.default_lma is not None:
            return self.default_lma
        elmas = [p.name for p in self.peers.values() if p.role == "elma_drf"]
        return min(elmas, key=lambda n: (self.hops[n], n)) if elmas else None

    def hnp_pool(self, mn: MobileNode) -> Net:
        """The pool the MN's HNPs come from: this LMA's first prefix; in deployment lma_daf the
        first prefix of the eLMA(DRF) its profile names (whichever eLMA serves it)."""
        if self.deployment == "lma_daf" and mn.lma is not None:
            return next(p for p, owner in self.lma_prefixes if owner == mn.lma)
        return self.own_prefixes()[0]

    def assigned_hnps(self, mn_id: str, hnps: list[Net]) -> None:
        """An LMA assigned ``hnps`` to ``mn_id``: MAGs may share these objects (``hnps_named``)."""
        i = self.mn_index.get(mn_id)
        if i is None:
            return
        table = self._hnps
        if not table:
            table.extend([None] * len(self.mn_index))
        table[i] = hnps

    def hnps_named(self, mn_id: str, texts: list[str]) -> list[Net]:
        """The prefixes ``texts`` (a PBA's) as IPv6Network objects: the list the LMA assigned when
        it names exactly these, else parsed (ValueError for a bad one)."""
        i = self.mn_index.get(mn_id)
        assigned = self._hnps[i] if i is not None and i < len(self._hnps) else None
        if assigned is not None and len(assigned) == len(texts):
            for net, t in zip(assigned, texts, strict=True):
                if text.prefix(net) != t:
                    break
            else:
                return assigned
        return [Net(t) for t in texts]

    def select_lma(self, mn: MobileNode) -> str:
        """§4.1: the profile's LMA if it has one (a legacy LMA then disables DAF), else this MAG's
        configured LMA, else the first eLMA of the domain (an eLMA is preferred)."""
        bound = self.profile_lma(mn)
        if bound is not None:
            return bound
        if self.default_lma is not None:
            return self.default_lma
        elmas = [p.name for p in self.peers.values() if p.role == "elma"]
        return elmas[0] if elmas else next(p.name for p in self.peers.values() if p.is_lma)


class Prefix(ipaddress.IPv6Network):
    """An IPv6Network that computes its hash once: prefixes are looked up in several dicts on every
    event (sessions, locations, queries, the binding cache), and ``IPv6Network.__hash__`` works it
    out from two address objects each time (a tenth of a route set-up in bench load's profile).
    Equal to, and hashed like, the IPv6Network of the same prefix."""

    def __init__(self, address: object, strict: bool = True) -> None:
        super().__init__(address, strict)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


class Hnp(int, Prefix):
    """A stored HNP, and the DRF's key of a correspondent's prefix: an IPv6 prefix that is one int,
    its key (``text.prefix_key``: (network address ^ netmask) + length * ``text.LENGTH_UNIT``) -
    about 70 B where an IPv6Network with its network address is about 210, and an LMA's binding,
    the MAG's attachment and the DRF's entries hold one per HNP (memory per MN, issue 13).  It is
    hashed and compared as that int, in C: the key is made so that the int's hash is
    IPv6Network's (``hash(network address ^ netmask)``), and two Hnps are equal when their ints
    are.  Otherwise it is an IPv6Network (a Prefix): equal to, hashed and ordered like the
    IPv6Network of the same prefix (an IPv6Network compares with it through its address and mask
    attributes, which are made when asked), ``in`` for addresses, ``str``/``repr``/pickle alike.
    The int is an implementation detail: its arithmetic is not a prefix's, and ``int()`` of it is
    not the address (``int(h.network_address)`` is)."""

    __slots__ = ()

    def __new__(cls, network: int, prefixlen: int) -> Hnp:
        if not 0 <= prefixlen <= 128 or not 0 <= network < 1 << 128:
            raise ValueError(f"not an IPv6 prefix: {network:#x}/{prefixlen}")
        if network & ((1 << (128 - prefixlen)) - 1):
            raise ValueError(f"{Addr(network)}/{prefixlen} has host bits set")
        return int.__new__(cls, text.prefix_key(network, prefixlen))

    def __init__(self, network: int, prefixlen: int) -> None:
        pass  # no IPv6Network.__init__: nothing is stored but the int

    @classmethod
    def holding(cls, address: Addr | int) -> Hnp:
        """The /64 holding ``address`` or its int (no checks, nothing memoised: one int made in C)."""
        return int.__new__(cls, (int(address) >> 64 << 64 ^ MASK64) + KEY64)

    # hashed and compared as the int (C); against an IPv6Network, int's answer is NotImplemented
    # and the IPv6Network's own __eq__ compares the address and mask attributes below
    __hash__ = int.__hash__
    __eq__ = int.__eq__
    __ne__ = int.__ne__
    __lt__ = Net.__lt__  # type: ignore[assignment]
    __le__ = Net.__le__  # type: ignore[assignment]
    __gt__ = Net.__gt__  # type: ignore[assignment]
    __ge__ = Net.__ge__  # type: ignore[assignment]

    @property
    def network_address(self) -> Addr:  # type: ignore[override]
        return _address(text.key_parts(self)[0])

    @property
    def _prefixlen(self) -> int:
        return self // LENGTH_UNIT

    @property
    def prefixlen(self) -> int:
        return self // LENGTH_UNIT

    @property
    def netmask(self) -> Addr:  # type: ignore[override]
        return Addr(MASKS[self // LENGTH_UNIT])

    @property
    def hostmask(self) -> Addr:
        return Addr(MASKS[self // LENGTH_UNIT] ^ ALL_ONES)

    @property
    def broadcast_address(self) -> Addr:
        network, length = text.key_parts(self)
        return Addr(network | MASKS[length] ^ ALL_ONES)

    def __contains__(self, other: object) -> bool:
        if not isinstance(other, Addr):
            return False
        length = self // LENGTH_UNIT
        mask = MASKS[length]
        return int.__eq__(self, (int(other) & mask ^ mask) + length * LENGTH_UNIT)  # the key of its /length

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        network, length = text.key_parts(self)
        return f"{Addr(network)}/{length}"

    def __repr__(self) -> str:
        return f"IPv6Network('{self}')"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> tuple[type[Hnp], tuple[int, int]]:
        return Hnp, text.key_parts(self)


@functools.lru_cache(maxsize=1 << 12)
def _address(value: int) -> Addr:
    """Memoised (a pure function; addresses are immutable): a registration asks an HNP's network
    address several times (each message and flow names the prefix as text), and making an
    IPv6Address costs ten times a cache hit."""
    return Addr(value)


def prefix_of(address: Addr) -> Hnp:
    """The /64 holding ``address`` (every HNP and DRF entry is a /64): an Hnp, made in C and hashed
    in C in the DRF's dicts (a route set-up looks its correspondent's prefix up in about ten)."""
    return Hnp.holding(address)


MASKS = text.MASKS  # netmasks by prefix length
LENGTH_UNIT = text.LENGTH_UNIT
MASK64 = MASKS[64]  # a /64's netmask
KEY64 = 64 * LENGTH_UNIT  # what a /64's length adds to its key
ALL_ONES = (1 << 128) - 1
