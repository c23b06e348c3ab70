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
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from controller.store import STORE_KINDS, SYNCHRONOUS, StoreConfig

ROLES = ("emag", "mag", "elma", "lma", "ar_drf", "core", "elma_drf", "lmf", "bg_drf", "router_drf")
MAG_ROLES = ("emag", "mag")
LMA_ROLES = ("elma", "lma", "elma_drf")
# Deployments (draft §3.1 and §7.1): where the DAF and the LMF live.
#   mag_daf: DAF in the (e)MAGs, LMF in the (e)LMAs (the draft's main case)
#   lma_daf: legacy MAGs, DAF in the LMAs ("eLMA(DRF)"), independent LMFs, a border gateway and
#            anycast routers with DRF announcing the ePMIP area's prefix set (§7)
DEPLOYMENTS = ("mag_daf", "lma_daf")
# roles each deployment allows (check-config names the deployment that would allow a role)
DEPLOYMENT_ROLES = MappingProxyType(
    {
        "mag_daf": ("emag", "mag", "elma", "lma", "ar_drf", "core"),
        "lma_daf": ("mag", "elma_drf", "lmf", "bg_drf", "router_drf", "core"),
    }
)
ELMA_SELECTION = ("nearest", "configured")  # §7.2: how a legacy MAG picks the eLMA(DRF) (RFC 6097)
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
    # RFC 5213 §6.9.4 / RFC 6275: the first wait for a PBA, doubled on each resend up to the maximum
    initial_bindack_timeout: float = 1.0  # InitialBindackTimeoutFirstReg
    max_bindack_timeout: float = 32.0  # MaxBindackTimeout (RFC 6275 MAX_BINDACK_TIMEOUT)


@dataclass(frozen=True)
class Switch:
    name: str
    dpid: int
    role: str
    address: ipaddress.IPv6Address  # Proxy-CoA / LMA address / tunnel endpoint
    prefixes: tuple[ipaddress.IPv6Network, ...] = ()  # for (e)LMAs: HNP pools they announce
    lma: str | None = None  # for (e)MAGs: default LMA for MNs whose profile names none
    lmf: str | None = None  # for an eLMA(DRF) (lma_daf): its preferred LMF (§7.4)

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


@dataclass(frozen=True)
class ControllerInstance:
    """One epmip-manager process of a domain split over several (``controllers:``): its name
    (``--epmip-instance``), the address and UDP port it sends and receives signalling on, and
    the switches it serves.  The first instance also serves the policy store."""

    name: str
    address: ipaddress.IPv6Address
    port: int
    switches: tuple[str, ...]


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
    deployment: str = "mag_daf"
    area_prefixes: tuple[ipaddress.IPv6Network, ...] = ()  # lma_daf: the ePMIP area's prefix set (§7.1)
    elma_selection: str = "nearest"  # lma_daf: the rule a MAG picks its eLMA(DRF) by (§7.2)
    rest_token: str | None = field(default=None, repr=False)  # REST write calls (apps/rest_app.py)
    # placement over several controller instances; empty: one instance serves everything
    controllers: tuple[ControllerInstance, ...] = ()
    store: StoreConfig = field(default_factory=StoreConfig)  # where state survives a restart (store.py)
    by_dpid: dict[int, Switch] = field(default_factory=dict)
    _by_mac: dict[str, MobileNode] = field(default_factory=dict, repr=False)
    _by_port_mac: dict[str, MobileNode | FixedNode] = field(default_factory=dict, repr=False)
    _trunks: dict[str, Mapping[int, str]] = field(default_factory=dict, repr=False, compare=False)

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

    def trunk_ports(self, switch: str) -> Mapping[int, str]:
        """Port number -> neighbour switch name, for one switch.  Worked out once per switch (the
        links are the file's; every port event asks)."""
        found = self._trunks.get(switch)
        if found is None:
            ports: dict[int, str] = {}
            for link in self.links:
                if link.a == switch:
                    ports[link.a_port] = link.b
                elif link.b == switch:
                    ports[link.b_port] = link.a
            found = self._trunks[switch] = MappingProxyType(ports)
        return found

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
        # libyaml's loader when PyYAML has it (the same documents, about 3x faster: a domain of
        # 100,000 MNs took 33 s to read with the pure-Python one)
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
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
        "links", "mobile_nodes", "fixed_nodes", "fixed_networks", "controllers", "deployment", "epmip_area",
        "elma_selection", "store",
    }  # fmt: skip
    for key in doc:
        if key not in known:
            raise ConfigError(str(key), doc[key], f"one of the fields {sorted(known)}")
    name = _get(doc, "domain", "domain", str, "epmip")
    deployment = _get(doc, "deployment", "deployment", str, "mag_daf")
    if deployment not in DEPLOYMENTS:
        raise ConfigError("deployment", deployment, f"one of {list(DEPLOYMENTS)}")
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
    store_doc = doc.get("store", {})
    if not isinstance(store_doc, dict):
        raise ConfigError("store", store_doc, "a mapping, e.g. {kind: sqlite, path: var/state/epmip.db}")
    store = _store(store_doc)
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
    controllers = _controllers(_get(doc, "controllers", "controllers", list, []), switches)
    area, selection = _deployment(doc, deployment, mode, switches, fixed_networks, mns)
    return Domain(
        name=name, mode=mode, lmf_discovery=discovery, handoff_buffer=handoff_buffer, signalling_key=signalling_key,
        router_link_local=router_ll, router_mac=router_mac,
        timers=timers, switches=switches, links=links, mobile_nodes=mns, fixed_nodes=fns,
        fixed_networks=fixed_networks, source=source, rest_token=rest_token, controllers=controllers,
        deployment=deployment, area_prefixes=area, elma_selection=selection, store=store,
    )  # fmt: skip


SIGNALLING_PORT = 5436  # UDP, as RFC 5844 carries PMIPv6 signalling over IPv4


def _controllers(items: list[Any], switches: dict[str, Switch]) -> tuple[ControllerInstance, ...]:
    """``controllers``: every switch served by exactly one instance, names and (address, port)
    unique."""
    out: list[ControllerInstance] = []
    served: dict[str, str] = {}
    endpoints: dict[tuple[ipaddress.IPv6Address, int], str] = {}
    for i, item in enumerate(items):
        path = f"controllers[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, item, "a mapping with name, address, port and switches")
        for key in item:
            if key not in ("name", "address", "port", "switches"):
                raise ConfigError(f"{path}.{key}", item[key], "one of name, address, port, switches")
        name = _name(_get(item, "name", path, str), f"{path}.name")
        if any(c.name == name for c in out):
            raise ConfigError(f"{path}.name", name, "a name no other controller instance has")
        address = _address(_get(item, "address", path, str), f"{path}.address")
        port = _get(item, "port", path, int, SIGNALLING_PORT)
        if not 1 <= port <= 0xFFFF:
            raise ConfigError(f"{path}.port", port, "a UDP port 1-65535")
        if (address, port) in endpoints:
            other = endpoints[(address, port)]
            raise ConfigError(f"{path}.address", f"[{address}]:{port}", f"an address and port {other} does not use")
        endpoints[(address, port)] = name
        names = _get(item, "switches", path, list)
        for j, sw in enumerate(names):
            if sw not in switches:
                raise ConfigError(f"{path}.switches[{j}]", sw, f"a switch of this domain ({', '.join(switches)})")
            if sw in served:
                raise ConfigError(f"{path}.switches[{j}]", sw, f"a switch no other instance serves ({served[sw]} does)")
            served[sw] = name
        out.append(ControllerInstance(name, address, port, tuple(names)))
    missing = [sw for sw in switches if sw not in served]
    if out and missing:
        raise ConfigError("controllers", ", ".join(missing), "every switch served by one instance")
    return tuple(out)


def _rest_token(rest: dict[str, Any]) -> str | None:
    """``rest.token``: the bearer token REST write calls must send (EPMIP_REST_TOKEN overrides it)."""
    for key in rest:
        if key != "token":
            raise ConfigError(f"rest.{key}", rest[key], "only the field 'token'")
    token: str | None = _get(rest, "token", "rest", str, None)
    if token is not None and not REST_TOKEN_RE.fullmatch(token):
        raise ConfigError("rest.token", "(hidden)", "a token of 16-512 visible ASCII characters (no spaces)")
    return token


STORE_FIELDS = (
    ("sqlite", ("kind", "path", "synchronous")),
    ("redis", ("kind", "url", "prefix")),
    ("none", ("kind",)),
)


def _store(d: dict[str, Any]) -> StoreConfig:
    """``store``: where bindings, attachments, DRF/DMF state, run-time prefixes and replay windows
    survive a restart: ``{kind: sqlite, path: ..., synchronous: normal|full}`` (the default, at
    ``var/state/epmip.db``), ``{kind: redis, url: redis://host:port/db | unix:///socket, prefix: ...}``
    or ``{kind: none}``."""
    kind = _get(d, "kind", "store", str, "sqlite")
    if kind not in STORE_KINDS:
        raise ConfigError("store.kind", kind, f"one of {list(STORE_KINDS)}")
    allowed = dict(STORE_FIELDS)[kind]
    for key in d:
        if key not in allowed:
            raise ConfigError(f"store.{key}", d[key], f"for kind {kind}, only the fields {list(allowed)}")
    if kind == "sqlite":
        path = _get(d, "path", "store", str, StoreConfig.path)
        if not path.strip() or "\0" in path or path.endswith("/"):
            raise ConfigError("store.path", path, "a file path for the SQLite database")
        sync = _get(d, "synchronous", "store", str, "normal")
        if sync not in SYNCHRONOUS:
            raise ConfigError("store.synchronous", sync, f"one of {list(SYNCHRONOUS)}")
        return StoreConfig(kind=kind, path=path, synchronous=sync)
    if kind == "redis":
        url = _get(d, "url", "store", str, None)
        if url is None:
            raise ConfigError("store.url", None, "a Redis URL (redis://host:port/db or unix:///path/redis.sock)")
        if not re.fullmatch(r"(redis|rediss)://[^\s]*|unix:///[^\s]+", url):
            raise ConfigError("store.url", url, "a Redis URL (redis://host:port/db or unix:///path/redis.sock)")
        prefix = _get(d, "prefix", "store", str, StoreConfig.prefix)
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", prefix):
            raise ConfigError("store.prefix", prefix, "1-64 letters, digits or _.:-")
        return StoreConfig(kind=kind, url=url, prefix=prefix)
    return StoreConfig(kind="none")


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
        lmf = _get(item, "lmf", path, str, None)
        for key in item:
            if key not in ("name", "dpid", "role", "address", "prefixes", "lma", "lmf"):
                raise ConfigError(f"{path}.{key}", item[key], "one of name, dpid, role, address, prefixes, lma, lmf")
        dpids[dpid] = name
        addresses[address] = name
        out[name] = Switch(name, dpid, role, address, prefixes, lma, lmf)
    for sw in out.values():
        if sw.lma is not None:
            path = f"switches ({sw.name}).lma"
            if sw.role not in MAG_ROLES:
                raise ConfigError(path, sw.lma, "no lma (only (e)MAGs have a default LMA)")
            if sw.lma not in out or not out[sw.lma].is_lma:
                raise ConfigError(path, sw.lma, "the name of a switch with role elma, lma or elma_drf")
        if sw.lmf is not None:
            path = f"switches ({sw.name}).lmf"
            if sw.role != "elma_drf":
                raise ConfigError(path, sw.lmf, "no lmf (only an elma_drf has a preferred LMF)")
            if sw.lmf not in out or out[sw.lmf].role != "lmf":
                raise ConfigError(path, sw.lmf, "the name of a switch with role lmf")
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
        if router not in switches or switches[router].role not in ("ar_drf", "core", "bg_drf"):
            raise ConfigError(f"{path}.router", router, "the name of a switch with role ar_drf, core or bg_drf")
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
            raise ConfigError(f"{path}.lma", lma, "the name of a switch with role elma, lma or elma_drf")
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
                raise ConfigError(f"{path}.{key}", str(hnp), "a /64 inside the prefixes of an elma, lma or elma_drf")
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
    seen: dict[str, str] = {router_mac: "router.mac"}  # MAC -> who has it
    names = set(seen.values())  # a set, not seen.values(): that check was O(hosts) per host
    for kind, table in (("mobile_nodes", mns), ("fixed_nodes", fns)):
        for key, node in table.items():
            if key in names or (kind == "fixed_nodes" and key in mns):
                raise ConfigError(f"{kind} ({key})", key, "a host name not used twice")
            if node.mac in seen:
                raise ConfigError(f"{kind} ({key}).mac", node.mac, f"a MAC not used by {seen[node.mac]}")
            seen[node.mac] = key
            names.add(key)


def _deployment(
    doc: dict[str, Any],
    deployment: str,
    mode: str,
    switches: dict[str, Switch],
    networks: list[FixedNetwork],
    mns: dict[str, MobileNode],
) -> tuple[tuple[ipaddress.IPv6Network, ...], str]:
    """The rules of the deployment (§3.1 or §7): which roles, the ePMIP area, where things are."""
    raw_area = _get(doc, "epmip_area", "epmip_area", list, [])
    selection = _get(doc, "elma_selection", "elma_selection", str, "nearest")
    if selection not in ELMA_SELECTION:
        raise ConfigError("elma_selection", selection, f"one of {list(ELMA_SELECTION)}")
    allowed = DEPLOYMENT_ROLES[deployment]
    for sw in switches.values():
        if sw.role not in allowed:
            other = next(d for d, roles in DEPLOYMENT_ROLES.items() if sw.role in roles)
            raise ConfigError(
                f"switches ({sw.name}).role", sw.role, f"a role of deployment {deployment} ({', '.join(allowed)}); "
                f"{sw.role} belongs to deployment {other}",
            )  # fmt: skip
    if deployment == "mag_daf":
        if raw_area:
            raise ConfigError("epmip_area", raw_area, "no epmip_area (only deployment lma_daf has one)")
        if "elma_selection" in doc:
            raise ConfigError("elma_selection", selection, "no elma_selection (only deployment lma_daf has one)")
        return (), selection
    if mode != "epmip":
        raise ConfigError("mode", mode, "epmip (deployment lma_daf is the draft's §7; pmip and lr have no DAF)")
    if not raw_area:
        raise ConfigError("epmip_area", raw_area, "the ePMIP area's prefix set (deployment lma_daf, §7.1)")
    area = tuple(_prefix(p, f"epmip_area[{i}]") for i, p in enumerate(raw_area))
    for i, p in enumerate(area):
        for q in area[:i]:
            if p.overlaps(q):
                raise ConfigError(f"epmip_area[{i}]", str(p), f"a prefix not overlapping {q}")
    counts = {r: sum(1 for s in switches.values() if s.role == r) for r in allowed}
    for role, what in (("elma_drf", "an LMA with DRF"), ("lmf", "a Location Management Function"),
                       ("bg_drf", "the border gateway with DRF")):  # fmt: skip
        if counts[role] == 0:
            raise ConfigError("switches", f"no {role}", f"at least one switch with role {role} ({what}) in lma_daf")
    for sw in switches.values():
        path = f"switches ({sw.name})"
        for p in sw.prefixes:
            if not any(p.subnet_of(a) for a in area):
                raise ConfigError(f"{path}.prefixes", str(p), "a pool inside the epmip_area prefix set (§7.1)")
        if sw.role == "mag" and sw.lma is not None and switches[sw.lma].role != "elma_drf":
            raise ConfigError(f"{path}.lma", sw.lma, "the name of a switch with role elma_drf")
    for net in networks:
        inside = any(net.prefix.overlaps(a) for a in area)
        if inside:
            raise ConfigError("fixed_networks", str(net.prefix), "a fixed network outside the epmip_area prefix set")
        if net.lmf and switches[net.router].role != "ar_drf":
            raise ConfigError(f"fixed_networks ({net.prefix}).lmf", True, "false (an LMF at a router is §5.2's)")
    for mn in mns.values():
        path = f"mobile_nodes ({mn.id})"
        if mn.lma is None and not mn.static_hnps:
            raise ConfigError(
                f"{path}.lma", None, "the elma_drf whose pool gives the MN its HNP, or a static hnp (lma_daf: any "
                "eLMA(DRF) may serve the MN, the HNP stays the MN's)",
            )  # fmt: skip
        if len(mn.static_hnps) > 1 or mn.hnp_count > 1:
            raise ConfigError(
                f"{path}.hnps", [str(h) for h in mn.static_hnps] or mn.hnp_count,
                "one HNP per MN in lma_daf (the LMF responsible for an MN is chosen by hashing its HNP)",
            )  # fmt: skip
        if mn.lma is not None and switches[mn.lma].role != "elma_drf":
            raise ConfigError(f"{path}.lma", mn.lma, "the name of a switch with role elma_drf")
    return area, selection


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
