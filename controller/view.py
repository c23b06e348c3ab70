"""A node's configured view of the domain: what one entity knows without being told by a message.

Each node (eMAG, MAG, eLMA, LMA, access router) gets its own ``View``, built once from the domain
file: its own switch, every peer's role, address and MPLS label and the port toward it, the prefix
configuration (§4.4.1), the MN policy profiles (RFC 5213 §2.2 policy store), cookie numbers, timers
and the signalling key.  An entity never reads another entity's objects; what it learns at run
time comes in messages.  A run-time configuration change (a prefix added through REST) is pushed
into every node's view by the composition root, as an operator's configuration push would be.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from controller.config import Domain, FixedNetwork, MobileNode, Switch, Timers
from controller.topology import Topology
from openflow_rules import text

Addr = ipaddress.IPv6Address
Net = ipaddress.IPv6Network
DRF_ROLES = ("emag", "ar_drf")  # roles that terminate a direct tunnel (have a DRF)


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
        return self.role in ("elma", "lma")

    @property
    def has_drf(self) -> bool:
        return self.role in DRF_ROLES


class Shared:
    """The read-only parts every view of one domain has in common (built once, never mutated)."""

    def __init__(self, domain: Domain) -> None:
        self.profiles: Mapping[str, MobileNode] = MappingProxyType(domain.mobile_nodes)
        self.mn_index: Mapping[str, int] = MappingProxyType({m: i for i, m in enumerate(domain.mobile_nodes)})
        self.fixed_index: Mapping[str, int] = MappingProxyType({n: i for i, n in enumerate(domain.fixed_nodes)})


class View:
    def __init__(self, domain: Domain, topo: Topology, me: str, shared: Shared | None = None) -> None:
        shared = shared or Shared(domain)
        self.me: Switch = domain.switches[me]
        self.name = me
        self.dpid = self.me.dpid
        self.address: Addr = self.me.address
        self.mode = domain.mode
        self.lmf_discovery = domain.lmf_discovery
        self.handoff_buffer = domain.handoff_buffer
        self.timers: Timers = domain.timers
        self.key: bytes | None = domain.signalling_key
        self.router_mac = domain.router_mac
        self.router_ll = str(domain.router_link_local)
        self.profiles = shared.profiles
        self.mn_index = shared.mn_index
        self.fixed_index = shared.fixed_index
        self.epoch = 0.0  # added to ``now`` for timestamps (wall-clock like); set by the root
        self.peers: dict[str, Peer] = {
            sw.name: Peer(sw.name, sw.role, sw.address, sw.label, topo.port_toward(me, sw.name))
            for sw in domain.switches.values()
        }
        self._by_address: dict[Addr, str] = {p.address: p.name for p in self.peers.values()}
        # and by the text messages carry (RFC 5952, as text.address writes it): no parse per message
        self._by_address_text: dict[str, str] = {text.address(p.address): p.name for p in self.peers.values()}
        self.default_lma: str | None = self.me.lma
        # §4.4.1 prefix configuration: (prefix, owning (e)LMA); fixed networks and their routers
        self.lma_prefixes: list[tuple[Net, str]] = [
            (p, sw.name) for sw in domain.switches.values() if sw.is_lma for p in sw.prefixes
        ]
        self.fixed_networks: tuple[FixedNetwork, ...] = tuple(domain.fixed_networks)

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
        name = self._by_address.get(addr)
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

    def own_prefixes(self) -> list[Net]:
        return [p for p, owner in self.lma_prefixes if owner == self.name]

    def prefix_owner(self, address: Addr) -> Peer | None:
        """The (e)LMA whose configured prefixes hold ``address`` (§4.4.1), if any."""
        for prefix, owner in self.lma_prefixes:
            if address in prefix:
                return self.peers[owner]
        return None

    def fixed_network_of(self, address: Addr) -> FixedNetwork | None:
        return next((n for n in self.fixed_networks if address in n.prefix), None)

    def find_lmf(self, address: Addr) -> str | None:
        """§4.4.1: the LMF that knows ``address`` by the prefix configuration - the eLMA whose
        prefixes hold it, or for a fixed network the LMF co-located with its access router (§5.2);
        None when the owner is a legacy LMA or nobody (§5.1)."""
        owner = self.prefix_owner(address)
        if owner is not None:
            return owner.name if owner.role == "elma" else None
        net = self.fixed_network_of(address)
        if net is not None and net.lmf and self.peers[net.router].role == "ar_drf":
            return net.router
        return None

    def preferred_lmf(self) -> str | None:
        """§4.4.3: the eLMA a DRF sends every query to (its own eLMA, else the first eLMA)."""
        if self.default_lma is not None and self.peers[self.default_lma].role == "elma":
            return self.default_lma
        return next((p.name for p in self.peers.values() if p.role == "elma"), None)

    def add_prefix(self, prefix: Net, owner: str) -> None:
        self.lma_prefixes.append((prefix, owner))

    def remove_prefix(self, prefix: Net) -> None:
        self.lma_prefixes = [(p, o) for p, o in self.lma_prefixes if p != prefix]

    # ------------------------------------------------------------ MN policy profiles

    def profile_lma(self, mn: MobileNode) -> str | None:
        """The LMA an MN's profile binds it to (its HNP's owner, or a named LMA), if any."""
        if mn.hnp is not None:
            owner = self.prefix_owner(mn.hnp.network_address)
            return owner.name if owner else None
        return mn.lma

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


def prefix_of(address: Addr) -> Net:
    """The /64 holding ``address`` (every HNP and DRF entry is a /64)."""
    return Prefix((int(address) >> 64 << 64, 64))
