"""Mininet topology built from an epmip domain file.

From Mininet's own CLI (the controller must already be listening; see README)::

    EPMIP_DOMAIN=examples/domain.yaml mn --custom mininet_topos/epmip_topo.py --topo epmip \
        --switch ovs,datapath=user,protocols=OpenFlow13 \
        --controller remote,ip=127.0.0.1,port=6653

Switch ports follow the domain file's link order (controller/config.py), so the controller and the
topology agree on every port number.  Host-side MACs come from the file, switch-side MACs of host
links from ``access_port_mac`` - that is how the controller recognises a host on any switch.
Trunk links get MTU 1600 so that a full 1500-byte packet still fits with two MPLS labels
(PLATFORM.md: the userspace datapath drops oversize packets silently).
"""

from __future__ import annotations

import os

from mininet.examples.mobility import MobilitySwitch
from mininet.link import Link
from mininet.node import Host
from mininet.topo import Topo

from controller.config import Domain, access_port_mac, load_domain

# ``mn --custom`` executes this file without defining __file__: then look in the working directory.
_HERE = os.path.dirname(os.path.abspath(globals().get("__file__", os.path.join("mininet_topos", "x"))))
DEFAULT_DOMAIN = os.path.join(_HERE, "..", "examples", "domain.yaml")
TRUNK_MTU = 1600


class EpmipHost(Host):
    """A host with IPv6 tuned for quick SLAAC and checksums the userspace datapath accepts."""

    def config(self, **params):
        result = super().config(**params)
        intf = self.defaultIntf()
        name = intf.name
        # Userspace OVS drops IPv6 UDP/TCP with offloaded (unfilled) checksums (PLATFORM.md).
        self.cmd(f"ethtool -K {name} tx off >/dev/null 2>&1")
        for key, value in (
            ("disable_ipv6", 0), ("accept_ra", 1), ("autoconf", 1), ("dad_transmits", 0),
            ("accept_dad", 0), ("router_solicitation_delay", 0), ("router_solicitation_interval", 1),
            ("router_solicitations", 10),
        ):  # fmt: skip
            self.cmd(f"sysctl -qw net.ipv6.conf.{name}.{key}={value}")
        self.cmd(f"ip link set {name} down; ip link set {name} up")
        fixed = params.get("fixed_address")
        if fixed:
            self.cmd(f"ip -6 addr add {fixed}/64 dev {name} nodad")
            self.cmd(f"ip -6 route add default via {params['router_ll']} dev {name}")
        return result


class UserSwitch(MobilitySwitch):
    """OVS bridge on the userspace datapath (no kernel module here), OpenFlow 1.3 only.  Based on
    Mininet's MobilitySwitch so that a host's link can be moved to another switch (a handoff):
    the switch-side interface keeps its MAC, which is how the controller recognises the MN."""

    def __init__(self, name, **params):
        params.setdefault("datapath", "user")
        params.setdefault("protocols", "OpenFlow13")
        super().__init__(name, **params)

    def start(self, controllers) -> None:
        super().start(controllers)
        # The switch-side veths live in the root namespace; without this each one sends Router
        # Solicitations of its own that the controller would have to punt and ignore.
        for intf in self.intfList():
            if intf.name != "lo":
                self.cmd(f"sysctl -qw net.ipv6.conf.{intf.name}.disable_ipv6=1")


class TrunkLink(Link):
    def __init__(self, node1, node2, **params):
        super().__init__(node1, node2, **params)
        for intf in (self.intf1, self.intf2):
            intf.cmd(f"ip link set dev {intf.name} mtu {TRUNK_MTU}")


class EpmipTopo(Topo):
    def build(self, domain: Domain | str | None = None) -> None:
        if not isinstance(domain, Domain):
            domain = load_domain(domain or os.environ.get("EPMIP_DOMAIN", DEFAULT_DOMAIN))
        self.domain = domain
        next_port = {}
        for sw in domain.switches.values():
            self.addSwitch(sw.name, cls=UserSwitch, dpid=f"{sw.dpid:016x}")
            next_port[sw.name] = len(domain.trunk_ports(sw.name)) + 1
        for link in domain.links:
            self.addLink(link.a, link.b, port1=link.a_port, port2=link.b_port, cls=TrunkLink)
        router_ll = str(domain.router_link_local)
        hosts: list[tuple[str, str, str, str | None]]  # name, MAC, access switch, fixed address
        hosts = [(mn.id, mn.mac, mn.attach, None) for mn in domain.mobile_nodes.values()]
        hosts += [(fn.name, fn.mac, fn.attach, str(fn.address)) for fn in domain.fixed_nodes.values()]
        for name, mac, attach, fixed in hosts:
            self.addHost(name, cls=EpmipHost, ip=None, mac=mac, fixed_address=fixed, router_ll=router_ll)
            self.addLink(
                name, attach, port2=next_port[attach], addr1=mac, addr2=access_port_mac(mac),
            )  # fmt: skip
            next_port[attach] += 1


topos = {"epmip": EpmipTopo}
