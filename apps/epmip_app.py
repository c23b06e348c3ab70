"""Thin Ryu shim around ``controller.core.EpmipController``.

Each OpenFlow handler finds the datapath, passes ``now`` to the core and sends back whatever
intents it returns.  A handler that fails is logged with its context and counted
(``handler_errors`` in /epmip/v1/stats) instead of being swallowed silently by Ryu.

Run with the project's launcher (it applies the eventlet fix)::

    epmip-manager --epmip-config examples/domain.yaml apps/epmip_app.py
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from apps import compat

compat.apply()

from ryu.app.wsgi import WSGIApplication  # noqa: E402
from ryu.base import app_manager  # noqa: E402
from ryu.controller import ofp_event  # noqa: E402
from ryu.controller.handler import (  # noqa: E402
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    set_ev_cls,
)
from ryu.lib import hub  # noqa: E402
from ryu.ofproto import ofproto_v1_3  # noqa: E402

from apps import fastpath, ofp_adapter  # noqa: E402
from apps.heap import Heap  # noqa: E402
from apps.launcher import register_options  # noqa: E402
from apps.rest_app import register_rest, resolve_token  # noqa: E402
from controller.config import ConfigError, load_domain  # noqa: E402
from controller.core import EpmipController, PortInfo  # noqa: E402
from controller.messages import pair_keys  # noqa: E402
from controller.pcap import SignallingCapture, signalling_addresses  # noqa: E402
from controller.placement import Placement, PlacementError, WireLink, serve_placement  # noqa: E402
from controller.policy import NAME as POLICY  # noqa: E402
from controller.store import NullStore, StoreError, for_instance, open_store  # noqa: E402
from openflow_rules.intents import Intent  # noqa: E402

if TYPE_CHECKING:
    from ryu.controller.controller import Datapath

LOG = logging.getLogger("epmip.app")


def guarded(handler):
    @functools.wraps(handler)
    def wrapper(self, ev):
        try:
            with self.core_lock:
                handler(self, ev)
        except Exception:
            self.core.count("handler_errors")
            LOG.exception("epmip handler %s failed on %s", handler.__name__, type(ev).__name__)

    return wrapper


def _log_rest_exposure(writable: bool, token_source: str) -> None:
    """Say where the REST API listens and whether it takes write calls.  epmip-manager defaults
    --wsapi-host to 127.0.0.1 (apps/launcher.py); plain ryu-manager's default is 0.0.0.0."""
    from ryu import cfg

    host = str(getattr(cfg.CONF, "wsapi_host", "") or "")
    port = getattr(cfg.CONF, "wsapi_port", "")
    if writable:
        LOG.info("epmip REST on %s:%s: write calls need the bearer token from %s", host, port, token_source)
    else:
        LOG.info("epmip REST on %s:%s: read only (no token: set EPMIP_REST_TOKEN or rest.token)", host, port)
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        LOG.warning(
            "epmip REST listens on %s, not only on this machine: reads (bindings, locations, stats) are open "
            "to anyone who reaches port %s; pass --wsapi-host 127.0.0.1 unless that is meant",
            host,
            port,
        )


def _store_name(domain) -> str:
    st = domain.store
    return {"sqlite": f"sqlite:{st.path}", "redis": f"redis:{st.url}"}.get(st.kind, "none")


def _port_info(port) -> PortInfo:
    name = port.name.decode(errors="replace") if isinstance(port.name, bytes) else str(port.name)
    return PortInfo(port.port_no, port.hw_addr.lower(), name)


class EpmipApp(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        register_options()
        from ryu import cfg

        path = cfg.CONF.epmip_config or os.environ.get("EPMIP_CONFIG")
        if not path:
            raise SystemExit("epmip: no domain file; pass --epmip-config FILE (or set EPMIP_CONFIG)")
        try:
            domain = load_domain(path)
        except ConfigError as exc:
            raise SystemExit(f"epmip: {path}: {exc}") from None
        try:
            token, token_source = resolve_token(domain.rest_token)
        except ValueError as exc:
            raise SystemExit(f"epmip: {exc}") from None
        self.tick_interval = float(getattr(cfg.CONF, "epmip_tick", 0.2) or 0.2)
        # One change of the core at a time, its intents sent before the next: OpenFlow handlers,
        # the ticker and REST writes run in different green threads, and a store write (Redis: a
        # socket) may yield in the middle of an event - after its changes, before its intents go.
        self.core_lock = hub.BoundedSemaphore(1)
        try:
            store = open_store(for_instance(domain.store, getattr(cfg.CONF, "epmip_instance", None)))
            if getattr(cfg.CONF, "epmip_reset_state", False):
                store.clear()
                LOG.info("epmip: state store %s cleared (--epmip-reset-state)", _store_name(domain))
        except StoreError as exc:
            raise SystemExit(f"epmip: {exc}") from None
        # The core's clock is time.monotonic(); epoch maps it to the wall clock, in which the store
        # keeps every time, so that a restarted controller (another monotonic origin) honours them.
        epoch = time.time() - time.monotonic()
        # store kind none keeps nothing: give the core no store, so that it does not dump each event's
        # changed records only to drop them (a third of a route set-up in bench load's profile)
        self.core = EpmipController(domain, epoch=epoch, store=None if isinstance(store, NullStore) else store)
        try:
            restored = self.core.restore(time.monotonic())
        except StoreError as exc:
            raise SystemExit(f"epmip: {exc}") from None
        LOG.info("epmip: state store %s: %d records restored", _store_name(domain), sum(restored.values()))
        self.capture: SignallingCapture | None = None
        self.link: WireLink | None = None
        placement = self._placement(domain, getattr(cfg.CONF, "epmip_instance", None))
        capture_path = getattr(cfg.CONF, "epmip_signalling_pcap", None)
        if capture_path:
            try:
                stream = open(capture_path, "wb")  # noqa: SIM115 - written to for the process's life
            except OSError as exc:
                raise SystemExit(f"epmip: --epmip-signalling-pcap {capture_path}: {exc}") from None
            others = {POLICY: placement.address[POLICY]} if placement is not None else None
            self.capture = SignallingCapture(
                stream, signalling_addresses(domain, others), pair_keys(domain.signalling_key), epoch
            )
            self.core.bus.tap = self.capture.write
            LOG.info("epmip: writing every signalling message to %s (pcap, IPv6 Mobility Headers)", capture_path)
        self.datapaths: dict[int, Datapath] = {}
        # packet-ins and port status straight from the switch connection to the core, without
        # Ryu's per-message objects and event queue (apps/fastpath.py); taken only while no other
        # app observes those events
        ofp = ofproto_v1_3
        fastpath.install(
            self.name,
            self.core_lock,
            self.datapaths,
            {
                ofp.OFPT_PACKET_IN: (ofp_event.EventOFPPacketIn, self._fast_packet_in),
                ofp.OFPT_PORT_STATUS: (ofp_event.EventOFPPortStatus, self._fast_port_status),
            },
        )
        register_rest(kwargs["wsgi"], self, token=token)
        _log_rest_exposure(token is not None, token_source)
        self.heap = Heap()
        self.heap.freeze(time.monotonic(), full=True)  # the domain and the restored state (apps/heap.py)
        self.threads.append(hub.spawn(self._ticker))
        LOG.info(
            "epmip: domain %s (%s mode) from %s: %d switches, %d mobile nodes",
            domain.name,
            domain.mode,
            path,
            len(domain.switches),
            len(domain.mobile_nodes),
        )

    def _placement(self, domain, instance: str | None) -> Placement | None:
        """With --epmip-instance: serve that instance's switches, signal with the others on UDP."""
        if not instance:
            if domain.controllers:
                LOG.warning("epmip: the domain places its switches on %d controller instances, but without "
                            "--epmip-instance this process serves every switch", len(domain.controllers))  # fmt: skip
            return None
        try:
            placement = Placement(domain, instance)
        except PlacementError as exc:
            raise SystemExit(f"epmip: --epmip-instance: {exc}") from None
        from apps.signalling_transport import UdpTransport

        try:
            self.transport = UdpTransport(placement.me)
        except OSError as exc:
            me = placement.me
            raise SystemExit(f"epmip: instance {instance}: cannot receive on [{me.address}]:{me.port}: {exc}") from None
        self.link = WireLink(placement, self.transport.send, pair_keys(domain.signalling_key), self.core.bus.errors)
        serve_placement(self.core.bus, self.link)
        self.threads.append(hub.spawn(self._signalling_receiver))
        peers = ", ".join(f"{c.name} [{c.address}]:{c.port}" for c in domain.controllers if c.name != instance)
        LOG.info("epmip: instance %s serves %s; signalling on UDP [%s]:%d with %s", instance,
                 ", ".join(placement.me.switches), placement.me.address, placement.me.port, peers)  # fmt: skip
        return placement

    def _signalling_receiver(self) -> None:
        """Datagrams from the other instances, into the core."""
        while True:
            try:
                data = self.transport.recv()
            except OSError:
                LOG.exception("epmip: receiving signalling failed")
                hub.sleep(0.1)
                continue
            try:
                got = self.link.receive(data) if self.link is not None else None
                if got is not None:
                    self.send(self.core.receive_signalling(got[0], got[1], time.monotonic()))
            except Exception:
                self.core.count("handler_errors")
                LOG.exception("epmip: signalling from another instance failed")

    # ------------------------------------------------------------ sending

    def send(self, intents: Iterable[Intent]) -> None:
        """Every message of one event to a switch in one write, in order (one ``Datapath.send``,
        so one socket write instead of one per message), packed by ``ofp_adapter.to_bytes``."""
        batches: dict[int, list[bytes]] = {}
        self._pack(intents, batches)
        for dpid, batch in batches.items():
            self.datapaths[dpid].send(b"".join(batch))

    def _pack(self, intents: Iterable[Intent], batches: dict[int, list[bytes]]) -> None:
        """The wire bytes of ``intents`` added to ``batches`` (dpid -> messages, in order)."""
        datapaths = self.datapaths
        for intent in intents:
            dp = datapaths.get(intent.dpid)
            if dp is None:
                continue
            dp.xid = xid = (dp.xid + 1) & 0xFFFFFFFF  # what Datapath.set_xid does
            batch = batches.get(intent.dpid)
            if batch is None:
                batch = batches[intent.dpid] = []
            batch.append(ofp_adapter.to_bytes(dp, intent, xid))

    def _ticker(self) -> None:
        while True:
            hub.sleep(self.tick_interval)
            try:
                with self.core_lock:
                    now = time.monotonic()
                    self.send(self.core.tick(now))
                    self.heap.tick(now)
            except Exception:
                self.core.count("handler_errors")
                LOG.exception("epmip timer tick failed")

    # ------------------------------------------------------------ OpenFlow events

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    @guarded
    def _state_change(self, ev) -> None:
        dp = ev.datapath
        dpid: int | None = dp.id
        if dpid is None:
            return
        if ev.state == MAIN_DISPATCHER:
            self.datapaths[dpid] = dp
            ports = [_port_info(p) for p in dp.ports.values() if p.port_no < dp.ofproto.OFPP_MAX]
            LOG.info("switch %#x connected with %d ports", dpid, len(ports))
            self.send(self.core.switch_up(dpid, ports, time.monotonic()))
        elif ev.state == DEAD_DISPATCHER and self.datapaths.get(dpid) is dp:
            del self.datapaths[dpid]
            self.core.switch_down(dpid, time.monotonic())

    # Ryu's path (these handlers) and the fast path (apps/fastpath.py: the same events from the
    # raw message, while no other app observes them) end in the same two methods.

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    @guarded
    def _port_status(self, ev) -> None:
        msg = ev.msg
        self.send(self._on_port_status(msg.datapath, msg.reason, msg.desc))

    def _on_port_status(self, dp, reason: int, port) -> list[Intent]:
        ofp = dp.ofproto
        if port.port_no >= ofp.OFPP_MAX:
            return []
        now = time.monotonic()
        down = (port.state & ofp.OFPPS_LINK_DOWN) or (port.config & ofp.OFPPC_PORT_DOWN)
        if reason == ofp.OFPPR_DELETE or (reason == ofp.OFPPR_MODIFY and down):
            return self.core.port_removed(dp.id, port.port_no, now)
        return self.core.port_added(dp.id, _port_info(port), now)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    @guarded
    def _packet_in(self, ev) -> None:
        msg = ev.msg
        self.send(self._on_packet_in(msg.datapath.id, msg.match.get("in_port"), msg.table_id, bytes(msg.data)))

    def _on_packet_in(self, dpid: int, in_port: int | None, table: int, data: bytes) -> list[Intent]:
        if in_port is None:
            self.core.count("packet_in_without_port")
            return []
        return self.core.packet_in(dpid, in_port, data, time.monotonic(), table=table)

    def _fast_packet_in(self, dp, buf: bytearray, off: int, length: int, out: dict[int, list[bytes]]) -> bool:
        """A packet-in from the fast path; the core lock is held (apps/fastpath.py).  A switch the
        app has not taken yet (its state change is still queued for the app's handler) goes Ryu's
        way, behind that change."""
        if dp.id not in self.datapaths:
            return False
        try:
            table, in_port, data = fastpath.packet_in(buf, off, length)
            self._pack(self._on_packet_in(dp.id, in_port, table, data), out)
        except fastpath.Malformed as exc:
            self.core.count("packet_in_malformed")
            LOG.warning("switch %#x: malformed packet-in ignored: %s", dp.id or 0, exc)
        except Exception:
            self.core.count("handler_errors")
            LOG.exception("epmip handler _fast_packet_in failed")
        return True

    def _fast_port_status(self, dp, buf: bytearray, off: int, length: int, out: dict[int, list[bytes]]) -> bool:
        """A port status from the fast path; the core lock is held (apps/fastpath.py)."""
        if dp.id not in self.datapaths:
            return False
        try:
            reason, port = fastpath.port_status(dp, buf, off, length)
        except fastpath.Malformed as exc:
            self.core.count("port_status_malformed")
            LOG.warning("switch %#x: malformed port status ignored: %s", dp.id or 0, exc)
            return True
        try:
            fastpath.port_status_bookkeeping(dp, reason, port)
            self._pack(self._on_port_status(dp, reason, port), out)
        except Exception:
            self.core.count("handler_errors")
            LOG.exception("epmip handler _fast_port_status failed")
        return True

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    @guarded
    def _error(self, ev) -> None:
        msg = ev.msg
        self.core.count("openflow_errors")
        LOG.error(
            "OpenFlow error from %#x: type=%d code=%d data=%s",
            msg.datapath.id or 0,
            msg.type,
            msg.code,
            bytes(msg.data)[:64].hex(),
        )
