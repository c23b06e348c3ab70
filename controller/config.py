"""The domain file: one YAML document that describes a PMIP domain.

The controller (``--epmip-config``) and the Mininet topology (``mininet_topos/``) both read it, so a
user edits one file.  Every validation error names the field, the bad value and what was expected,
in one line (``ConfigError``), because that is what ``epmip check-config`` prints.

Port numbering is derived here and nowhere else: on each switch the inter-switch links take ports
1, 2, ... in the order the ``links`` list names them, then come the host ports.  Host (access)
ports are recognised by the controller from their MAC address (``access_port_mac``), so a host that
Mininet moves to another switch is recognised there too.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

ROLES = ("emag", "mag", "elma", "lma", "ar_drf", "core")
MAG_ROLES = ("emag", "mag")
LMA_ROLES = ("elma", "lma")
MODES = ("epmip", "pmip", "lr")  # the draft; RFC 5213 centralized; RFC 6705 localized routing
LMF_DISCOVERY = ("config", "hbh", "relay")  # draft §4.4.1, §4.4.2, §4.4.3
HANDOFF_BUFFER = ("off", "reactive", "predictive")
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")
MAX_HNPS = 8  # HNPs per MN
RESERVED_NAMES = ("policy",)  # signalling names of nodes that are not switches
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# REST bearer token: visible ASCII (it travels in an HTTP header), long enough not to be guessed.
REST_TOKEN_RE = re.compile(r"[\x21-\x7e]{16,512}")
MAX_LABEL = (1 << 20) - 1


class ConfigError(ValueError):
    """A domain file is not valid; the message names the field, the value and what was expected."""

    def __init__(self, path: str, value: Any, expected: str) -> None:
        self.path = path
        self.value = value
        self.expected = expected
        super().__init__(f"{path}: got {value!r}, expected {expected}")


@dataclass(frozen=True)
class Timers:
    """Protocol timers, in seconds (RFC 5213 §9 defaults where one exists)."""

    binding_lifetime: float = 60.0  # lifetime a MAG asks for in its PBU
    refresh_fraction: float = 0.5  # the MAG refreshes after this fraction of the lifetime
    min_delay_before_bce_delete: float = 10.0  # RFC 5213 MinDelayBeforeBCEDelete (10000 ms)
    query_timeout: float = 0.5  # DRF: how long to wait for a PBQA
    query_retries: int = 2
    fallback_retry: float = 30.0  # DRF: a "no location" entry is asked again after this long
    buffer_hold: float = 5.0  # handoff buffer: how long to wait for the MN to reappear
    buffer_packets: int = 4096  # handoff buffer: packets kept per MN


@dataclass(frozen=True)
class Switch:
    name: str
    dpid: int
    role: str
    address: ipaddress.IPv6Address  # Proxy-CoA / LMA address / tunnel endpoint
    prefixes: tuple[ipaddress.IPv6Network, ...] = ()  # for (e)LMAs: HNP pools they announce
    lma: str | None = None  # for (e)MAGs: default LMA for MNs whose profile names none

    @property
    def label(self) -> int:
        """The MPLS label that names this switch as a tunnel endpoint."""
        return self.dpid

    @property
    def is_mag(self) -> bool:
        return self.role in MAG_ROLES

    @property
    def is_lma(self) -> bool:
        return self.role in LMA_ROLES


@dataclass(frozen=True)
class MobileNode:
    id: str  # MN-Identifier
    mac: str  # MN link-layer identifier
    attach: str  # the switch it starts on (Mininet)
    lma: str | None = None  # preferred LMA
    hnp: ipaddress.IPv6Network | None = None  # statically assigned HNP, if any (the first of ``hnps``)
    allowed: bool = True
    hnps: tuple[ipaddress.IPv6Network, ...] = ()  # every statically assigned HNP (RFC 5213: several)
    hnp_count: int = 1  # HNPs the LMA assigns when none is static

    @property
    def static_hnps(self) -> tuple[ipaddress.IPv6Network, ...]:
        if self.hnps:
            return self.hnps
        return (self.hnp,) if self.hnp is not None else ()


@dataclass(frozen=True)
class FixedNode:
    name: str
    mac: str
    address: ipaddress.IPv6Address
    attach: str  # its access router


@dataclass(frozen=True)
class FixedNetwork:
    prefix: ipaddress.IPv6Network
    router: str
    lmf: bool = True  # §5.2: an LMF answers for this network with the router's address


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    a_port: int
    b_port: int


@dataclass
class Domain:
    name: str
    mode: str
    lmf_discovery: str
    handoff_buffer: str
    signalling_key: bytes | None
    router_link_local: ipaddress.IPv6Address
    router_mac: str
    timers: Timers
    switches: dict[str, Switch]
    links: list[Link]
    mobile_nodes: dict[str, MobileNode]
    fixed_nodes: dict[str, FixedNode]
    fixed_networks: list[FixedNetwork]
    source: str = "<memory>"
    rest_token: str | None = field(default=None, repr=False)  # REST write calls (apps/rest_app.py)
    by_dpid: dict[int, Switch] = field(default_factory=dict)
    _by_mac: dict[str, MobileNode] = field(default_factory=dict, repr=False)
    _by_port_mac: dict[str, MobileNode | FixedNode] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_dpid = {s.dpid: s for s in self.switches.values()}
        self._index_hosts()

    def switch_by_address(self, address: ipaddress.IPv6Address) -> Switch | None:
        for sw in self.switches.values():
            if sw.address == address:
                return sw
        return None

    def prefix_owner(self, address: ipaddress.IPv6Address) -> Switch | None:
        """The (e)LMA whose configured prefixes contain ``address`` (§4.4.1), if any."""
        for sw in self.switches.values():
            if sw.is_lma and any(address in p for p in sw.prefixes):
                return sw
        return None

    def trunk_ports(self, switch: str) -> dict[int, str]:
        """Port number -> neighbour switch name, for one switch."""
        ports: dict[int, str] = {}
        for link in self.links:
            if link.a == switch:
                ports[link.a_port] = link.b
            elif link.b == switch:
                ports[link.b_port] = link.a
        return ports

    def host_for_port_mac(self, mac: str) -> MobileNode | FixedNode | None:
        """The host whose access link has this switch-side MAC (O(1): indexed once)."""
        if len(self._by_port_mac) != len(self.mobile_nodes) + len(self.fixed_nodes):
            self._index_hosts()
        return self._by_port_mac.get(mac.lower())

    def mobile_node_by_mac(self, mac: str) -> MobileNode | None:
        if len(self._by_mac) != len(self.mobile_nodes):
            self._index_hosts()
        return self._by_mac.get(mac.lower())

    def index_hosts(self) -> None:
        """Index the hosts by MAC now (else the first port event does it: ~2 s at 1M MNs)."""
        self._index_hosts()

    def _index_hosts(self) -> None:
        self._by_mac = {mn.mac: mn for mn in self.mobile_nodes.values()}
        self._by_port_mac = {access_port_mac(n.mac): n for n in self.mobile_nodes.values()}
        self._by_port_mac.update({access_port_mac(n.mac): n for n in self.fixed_nodes.values()})


def access_port_mac(host_mac: str) -> str:
    """The MAC of the switch side of a host's access link: the host's MAC with bit 0x04 of the
    first octet set.  The controller recognises a host's attachment by it, also after a move."""
    first, rest = host_mac.split(":", 1)
    return f"{int(first, 16) | 0x04:02x}:{rest}"


# ---------------------------------------------------------------- parsing helpers


def _get(d: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in d:
        if default is ...:
            raise ConfigError(f"{path}.{key}", None, "a value (field is required)")
        return default
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{path}.{key}", value, f"a {names}")
    return value


def _address(value: Any, path: str) -> ipaddress.IPv6Address:
    try:
        return ipaddress.IPv6Address(str(value))
    except ValueError:
        raise ConfigError(path, value, "an IPv6 address such as 2001:db8::1") from None


def _prefix(value: Any, path: str, exact_len: int | None = None) -> ipaddress.IPv6Network:
    try:
        net = ipaddress.IPv6Network(str(value), strict=True)
    except ValueError:
        raise ConfigError(path, value, "an IPv6 prefix such as 2001:db8:a::/48 with no host bits set") from None
    if exact_len is not None and net.prefixlen != exact_len:
        raise ConfigError(path, value, f"a /{exact_len} prefix")
    if exact_len is None and net.prefixlen > 64:
        raise ConfigError(path, value, "a prefix of length /64 or shorter")
    return net


def _mac(value: Any, path: str) -> str:
    if not isinstance(value, str) or not MAC_RE.match(value.lower()):
        raise ConfigError(path, value, "a MAC address such as 02:00:00:00:01:01")
    mac = value.lower()
    first = int(mac[:2], 16)
    if first & 0x01:
        raise ConfigError(path, value, "a unicast MAC (first octet even)")
    if first & 0x04:
        raise ConfigError(path, value, "a MAC whose first octet has bit 0x04 clear (that bit marks switch ports)")
    return mac


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ConfigError(path, value, "a name of 1-10 lowercase letters/digits starting a-z")
    return value


# ---------------------------------------------------------------- loading


def load_domain(path: str) -> Domain:
    """Read and validate a domain file; raises ConfigError (one line) on any problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError("file", path, f"a readable file ({exc.strerror})") from None
    return parse_domain(text, source=path)


def parse_domain(text: str, source: str = "<memory>") -> Domain:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "document"
        raise ConfigError(where, getattr(exc, "problem", str(exc)), "valid YAML") from None
    if not isinstance(doc, dict):
        raise ConfigError("document", doc, "a mapping with switches, links and mobile_nodes")
    return _build(doc, source)


def _build(doc: dict[str, Any], source: str) -> Domain:
    known = {
        "domain", "mode", "lmf_discovery", "handoff_buffer", "security", "rest", "router", "timers", "switches",
        "links", "mobile_nodes", "fixed_nodes", "fixed_networks",
    }  # fmt: skip
    for key in doc:
        if key not in known:
            raise ConfigError(str(key), doc[key], f"one of the fields {sorted(known)}")
    name = _get(doc, "domain", "domain", str, "epmip")
    mode = _get(doc, "mode", "mode", str, "epmip")
    if mode not in MODES:
        raise ConfigError("mode", mode, f"one of {list(MODES)}")
    discovery = _get(doc, "lmf_discovery", "lmf_discovery", str, "config")
    if discovery not in LMF_DISCOVERY:
        raise ConfigError("lmf_discovery", discovery, f"one of {list(LMF_DISCOVERY)}")
    security = _get(doc, "security", "security", dict, {})
    for key in security:
        if key != "key":
            raise ConfigError(f"security.{key}", security[key], "only the field 'key'")
    secret = _get(security, "key", "security", str, None)
    if secret is not None and len(secret) < 16:
        raise ConfigError("security.key", "(hidden)", "a shared secret of at least 16 characters")
    signalling_key = secret.encode() if secret is not None else None
    rest_token = _rest_token(_get(doc, "rest", "rest", dict, {}))
    handoff_buffer = _get(doc, "handoff_buffer", "handoff_buffer", str, "off")
    if handoff_buffer not in HANDOFF_BUFFER:
        raise ConfigError("handoff_buffer", handoff_buffer, f"one of {list(HANDOFF_BUFFER)}")
    router = _get(doc, "router", "router", dict, {})
    router_ll = _address(router.get("link_local", "fe80::1"), "router.link_local")
    if not router_ll.is_link_local:
        raise ConfigError("router.link_local", str(router_ll), "a link-local address (fe80::/10)")
    router_mac = _mac(router.get("mac", "02:00:00:00:00:01"), "router.mac")

    timers = _timers(_get(doc, "timers", "timers", dict, {}))
    switches = _switches(_get(doc, "switches", "switches", list))
    links = _links(_get(doc, "links", "links", list, []), switches)
    fixed_networks = _fixed_networks(_get(doc, "fixed_networks", "fixed_networks", list, []), switches)
    mns = _mobile_nodes(_get(doc, "mobile_nodes", "mobile_nodes", list, []), switches)
    fns = _fixed_nodes(_get(doc, "fixed_nodes", "fixed_nodes", list, []), switches, fixed_networks)
    _check_unique_hosts(mns, fns, router_mac)
    _check_prefix_overlap(switches, fixed_networks)
    _check_connected(switches, links)
    return Domain(
        name=name, mode=mode, lmf_discovery=discovery, handoff_buffer=handoff_buffer, signalling_key=signalling_key,
        router_link_local=router_ll, router_mac=router_mac,
        timers=timers, switches=switches, links=links, mobile_nodes=mns, fixed_nodes=fns,
        fixed_networks=fixed_networks, source=source, rest_token=rest_token,
    )  # fmt: skip


def _rest_token(rest: dict[str, Any]) -> str | None:
    """``rest.token``: the bearer token REST write calls must send (EPMIP_REST_TOKEN overrides it)."""
    for key in rest:
        if key != "token":
            raise ConfigError(f"rest.{key}", rest[key], "only the field 'token'")
    token: str | None = _get(rest, "token", "rest", str, None)
    if token is not None and not REST_TOKEN_RE.fullmatch(token):
        raise ConfigError("rest.token", "(hidden)", "a token of 16-512 visible ASCII characters (no spaces)")
    return token


def _timers(d: dict[str, Any]) -> Timers:
    defaults = Timers()
    values: dict[str, Any] = {}
    for key in d:
        if not hasattr(defaults, key):
            raise ConfigError(f"timers.{key}", d[key], f"one of {list(defaults.__dict__)}")
    for key, default in defaults.__dict__.items():
        kind = int if isinstance(default, int) else (int, float)
        value = _get(d, key, "timers", kind, default)
        if value <= 0 or (key == "refresh_fraction" and value >= 1):
            expected = "a number between 0 and 1" if key == "refresh_fraction" else "a positive number"
            raise ConfigError(f"timers.{key}", value, expected)
        values[key] = value
    return Timers(**values)


def _switches(items: list[Any]) -> dict[str, Switch]:
    out: dict[str, Switch] = {}
    dpids: dict[int, str] = {}
    addresses: dict[ipaddress.IPv6Address, str] = {}
    if not items:
        raise ConfigError("switches", items, "a non-empty list")
    for i, item in enumerate(items):
        path = f"switches[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, item, "a mapping with name, dpid, role, address")
        name = _name(_get(item, "name", path, str), f"{path}.name")
        if name in RESERVED_NAMES:
            raise ConfigError(f"{path}.name", name, f"a name other than {', '.join(RESERVED_NAMES)} (reserved)")
        path = f"switches[{i}] ({name})"
        if name in out:
            raise ConfigError(f"{path}.name", name, "a name not used by another switch")
        dpid = _get(item, "dpid", path, int)
        if not 1 <= dpid <= MAX_LABEL:
            raise ConfigError(f"{path}.dpid", dpid, f"an integer from 1 to {MAX_LABEL}")
        if dpid in dpids:
            raise ConfigError(f"{path}.dpid", dpid, f"a dpid not already used by {dpids[dpid]}")
        role = _get(item, "role", path, str)
        if role not in ROLES:
            raise ConfigError(f"{path}.role", role, f"one of {list(ROLES)}")
        address = _address(_get(item, "address", path, str), f"{path}.address")
        if address in addresses:
            raise ConfigError(f"{path}.address", str(address), f"an address not used by {addresses[address]}")
        prefixes = tuple(
            _prefix(p, f"{path}.prefixes[{j}]") for j, p in enumerate(_get(item, "prefixes", path, list, []))
        )
        if role in LMA_ROLES and not prefixes:
            raise ConfigError(f"{path}.prefixes", [], "at least one prefix for an (e)LMA")
        if role not in LMA_ROLES and prefixes:
            raise ConfigError(f"{path}.prefixes", [str(p) for p in prefixes], "no prefixes (only (e)LMAs have them)")
        lma = _get(item, "lma", path, str, None)
        for key in item:
            if key not in ("name", "dpid", "role", "address", "prefixes", "lma"):
                raise ConfigError(f"{path}.{key}", item[key], "one of name, dpid, role, address, prefixes, lma")
        dpids[dpid] = name
        addresses[address] = name
        out[name] = Switch(name, dpid, role, address, prefixes, lma)
    for sw in out.values():
        if sw.lma is not None:
            path = f"switches ({sw.name}).lma"
            if sw.role not in MAG_ROLES:
                raise ConfigError(path, sw.lma, "no lma (only (e)MAGs have a default LMA)")
            if sw.lma not in out or not out[sw.lma].is_lma:
                raise ConfigError(path, sw.lma, "the name of a switch with role elma or lma")
    return out


def _links(items: list[Any], switches: dict[str, Switch]) -> list[Link]:
    next_port = dict.fromkeys(switches, 1)
    seen: set[frozenset[str]] = set()
    links = []
    for i, item in enumerate(items):
        path = f"links[{i}]"
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ConfigError(path, item, "a pair of switch names such as [emag1, c1]")
        a, b = item
        for end in (a, b):
            if end not in switches:
                raise ConfigError(path, end, f"a switch name from switches ({', '.join(switches)})")
        if a == b or frozenset(item) in seen:
            raise ConfigError(path, item, "two different switches, linked once")
        seen.add(frozenset(item))
        links.append(Link(a, b, next_port[a], next_port[b]))
        next_port[a] += 1
        next_port[b] += 1
    return links


def _fixed_networks(items: list[Any], switches: dict[str, Switch]) -> list[FixedNetwork]:
    out = []
    for i, item in enumerate(items):
        path = f"fixed_networks[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, item, "a mapping with prefix and router")
        prefix = _prefix(_get(item, "prefix", path, str), f"{path}.prefix")
        router = _get(item, "router", path, str)
        if router not in switches or switches[router].role not in ("ar_drf", "core"):
            raise ConfigError(f"{path}.router", router, "the name of a switch with role ar_drf or core")
        lmf = _get(item, "lmf", path, bool, switches[router].role == "ar_drf")
        for key in item:
            if key not in ("prefix", "router", "lmf"):
                raise ConfigError(f"{path}.{key}", item[key], "one of prefix, router, lmf")
        out.append(FixedNetwork(prefix, router, lmf))
    return out


def _mobile_nodes(items: list[Any], switches: dict[str, Switch]) -> dict[str, MobileNode]:
    out: dict[str, MobileNode] = {}
    for i, item in enumerate(items):
        path = f"mobile_nodes[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, item, "a mapping with id, mac, attach")
        mn_id = _name(_get(item, "id", path, str), f"{path}.id")
        path = f"mobile_nodes[{i}] ({mn_id})"
        if mn_id in out:
            raise ConfigError(f"{path}.id", mn_id, "an id not used by another mobile node")
        mac = _mac(_get(item, "mac", path, str), f"{path}.mac")
        attach = _get(item, "attach", path, str)
        if attach not in switches or not switches[attach].is_mag:
            raise ConfigError(f"{path}.attach", attach, "the name of a switch with role emag or mag")
        lma = _get(item, "lma", path, str, None)
        if lma is not None and (lma not in switches or not switches[lma].is_lma):
            raise ConfigError(f"{path}.lma", lma, "the name of a switch with role elma or lma")
        if "hnp" in item and "hnps" in item:
            raise ConfigError(f"{path}.hnps", item["hnps"], "either hnp or hnps, not both")
        raw = [item["hnp"]] if "hnp" in item else item.get("hnps", [])
        if not isinstance(raw, list) or len(raw) > MAX_HNPS:
            raise ConfigError(f"{path}.hnps", raw, f"a list of at most {MAX_HNPS} /64 prefixes")
        key = "hnp" if "hnp" in item else "hnps"
        hnps = tuple(_prefix(h, f"{path}.{key}", exact_len=64) for h in raw)
        if len(set(hnps)) != len(hnps):
            raise ConfigError(f"{path}.hnps", raw, "prefixes that differ from each other")
        first_owner: str | None = None
        for hnp in hnps:
            owners = [s for s in switches.values() if s.is_lma and any(hnp.subnet_of(p) for p in s.prefixes)]
            if not owners:
                raise ConfigError(f"{path}.{key}", str(hnp), "a /64 inside the prefixes of an elma or lma")
            if lma is not None and owners[0].name != lma:
                raise ConfigError(f"{path}.{key}", str(hnp), f"a /64 inside the prefixes of {lma}")
            if first_owner is not None and owners[0].name != first_owner:
                raise ConfigError(f"{path}.{key}", str(hnp), f"a /64 of {first_owner}, like the first HNP")
            first_owner = owners[0].name
        hnp_count = _get(item, "hnp_count", path, int, 1)
        if isinstance(hnp_count, bool) or not 1 <= hnp_count <= MAX_HNPS or (hnps and "hnp_count" in item):
            raise ConfigError(f"{path}.hnp_count", hnp_count, f"1..{MAX_HNPS}, and only without static HNPs")
        allowed = _get(item, "allowed", path, bool, True)
        for k in item:
            if k not in ("id", "mac", "attach", "lma", "hnp", "hnps", "hnp_count", "allowed"):
                raise ConfigError(f"{path}.{k}", item[k], "one of id, mac, attach, lma, hnp, hnps, hnp_count, allowed")
        first_hnp = hnps[0] if hnps else None
        out[mn_id] = MobileNode(mn_id, mac, attach, lma, first_hnp, allowed, hnps if len(hnps) > 1 else (), hnp_count)
    return out


def _fixed_nodes(items: list[Any], switches: dict[str, Switch], networks: list[FixedNetwork]) -> dict[str, FixedNode]:
    out: dict[str, FixedNode] = {}
    for i, item in enumerate(items):
        path = f"fixed_nodes[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, item, "a mapping with name, mac, address, attach")
        name = _name(_get(item, "name", path, str), f"{path}.name")
        path = f"fixed_nodes[{i}] ({name})"
        mac = _mac(_get(item, "mac", path, str), f"{path}.mac")
        address = _address(_get(item, "address", path, str), f"{path}.address")
        attach = _get(item, "attach", path, str)
        nets = [n for n in networks if address in n.prefix]
        if not nets:
            raise ConfigError(f"{path}.address", str(address), "an address inside one of fixed_networks")
        if nets[0].router != attach:
            raise ConfigError(f"{path}.attach", attach, f"{nets[0].router}, the router of {nets[0].prefix}")
        out[name] = FixedNode(name, mac, address, attach)
    return out


def _check_unique_hosts(mns: dict[str, MobileNode], fns: dict[str, FixedNode], router_mac: str) -> None:
    seen: dict[str, str] = {router_mac: "router.mac"}
    for kind, table in (("mobile_nodes", mns), ("fixed_nodes", fns)):
        for key, node in table.items():
            if key in seen.values() or (kind == "fixed_nodes" and key in mns):
                raise ConfigError(f"{kind} ({key})", key, "a host name not used twice")
            if node.mac in seen:
                raise ConfigError(f"{kind} ({key}).mac", node.mac, f"a MAC not used by {seen[node.mac]}")
            seen[node.mac] = key


def _check_prefix_overlap(switches: dict[str, Switch], networks: list[FixedNetwork]) -> None:
    owned = [(p, s.name) for s in switches.values() for p in s.prefixes]
    owned += [(n.prefix, n.router) for n in networks]
    for i, (p, owner) in enumerate(owned):
        for q, other in owned[:i]:
            if p.overlaps(q):
                raise ConfigError(f"prefixes of {owner}", str(p), f"a prefix not overlapping {q} of {other}")


def _check_connected(switches: dict[str, Switch], links: list[Link]) -> None:
    if len(switches) < 2:
        return
    adj: dict[str, set[str]] = {n: set() for n in switches}
    for link in links:
        adj[link.a].add(link.b)
        adj[link.b].add(link.a)
    start = next(iter(switches))
    seen = {start}
    todo = [start]
    while todo:
        for nb in adj[todo.pop()]:
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    missing = sorted(set(switches) - seen)
    if missing:
        raise ConfigError("links", missing, f"links that connect every switch to {start}")
