"""RFC 5213 registration as the controller core runs it: attachment detection (port or RS), the
PBU/PBA exchange, the RA, the LMA's binding cache rules, refresh, de-registration with
MinDelayBeforeBCEDelete, the legacy-LMA case and robustness against bad packet-ins."""

from __future__ import annotations

import ipaddress
import random

import pytest
from ryu.lib.packet import ethernet, icmpv6, ipv4, ipv6, packet, packet_utils, udp

from controller import ndp
from controller.core import PortInfo
from controller.messages import PBA, PBU, HandoffIndicator, Status
from openflow_rules.intents import FlowMod, PacketOut
from openflow_rules.pipeline import Fn, Table, cookie

MN1_MAC = "02:00:00:00:01:01"
MN1_LL = "fe80::200:ff:fe00:101"
EMAG1_ADDR = "2001:db8:ffff::1"
EMAG2_ADDR = "2001:db8:ffff::2"
ELMA1_PREFIX = ipaddress.IPv6Network("2001:db8:a::/48")


def packet_outs(intents, dpid=None) -> list[PacketOut]:
    return [i for i in intents if isinstance(i, PacketOut) and (dpid is None or i.dpid == dpid)]


def flow_mods(intents, dpid=None) -> list[FlowMod]:
    return [i for i in intents if isinstance(i, FlowMod) and (dpid is None or i.dpid == dpid)]


def last_pba(net) -> PBA:
    return net.messages("PBA")[-1]


def inject_pbu(net, now: float, dst: str = "elma1", **fields) -> PBA:
    """Deliver a PBU to ``dst`` as wire bytes and return the PBA the LMA answered."""
    base = dict(src="emag1", dst=dst, seq=4242, mn_id="mn1", mn_ll_id=MN1_MAC, hnps=[],
                coa=EMAG1_ADDR, lifetime=60.0, timestamp=now,
                handoff=int(HandoffIndicator.NOT_CHANGED))  # fmt: skip
    base.update(fields)
    before = len(net.messages("PBA"))
    net.ctl.receive_signalling(dst, PBU(**base).encode(), now)
    pbas = net.messages("PBA")
    assert len(pbas) == before + 1, "the LMA must answer every PBU"
    return pbas[-1]


def parse_ra(data: bytes) -> dict:
    """Check an RA frame with ryu.lib.packet and return what it says.  Ryu's SLA option parser
    swallows every option after it, so the options are walked here by their length fields."""
    pkt = packet.Packet(data)
    eth = pkt.get_protocol(ethernet.ethernet)
    ip6 = pkt.get_protocol(ipv6.ipv6)
    icmp = pkt.get_protocol(icmpv6.icmpv6)
    assert icmp.type_ == icmpv6.ND_ROUTER_ADVERT
    body = data[14 + 40 :]
    assert packet_utils.checksum_ip(ip6, len(body), body) == 0, "bad ICMPv6 checksum"
    options, prefixes, off = {}, [], 16  # ICMPv6 header (4) + RA fixed part (12)
    while off < len(body):
        otype, olen = body[off], body[off + 1]
        assert olen > 0
        if otype == 3:  # Prefix Information
            pi = icmpv6.nd_option_pi.parser(body, off)
            flags = body[off + 3]
            prefix = ipaddress.IPv6Network(f"{pi.prefix}/{pi.pl}")
            prefixes.append({"prefix": prefix, "valid": pi.val_l,
                             "A": bool(flags & 0x40), "L": bool(flags & 0x80)})  # fmt: skip
        options[otype] = body[off : off + olen * 8]
        off += olen * 8
    assert off == len(body)
    return {"eth_src": eth.src, "eth_dst": eth.dst, "src": ip6.src, "dst": ip6.dst,
            "hop_limit": ip6.hop_limit, "router_lifetime": icmp.data.rou_l,
            "prefixes": prefixes, "option_types": sorted(options)}  # fmt: skip


# ---------------------------------------------------------------- initial registration


def test_initial_registration_message_sequence(net):
    port = net.host_port("emag1")
    intents = net.attach("mn1", now=1.0)
    log = list(net.ctl.bus.log)
    assert [(m.type, m.src, m.dst) for m in log] == [
        ("PBU", "emag1", "elma1"),
        ("PBA", "elma1", "emag1"),
    ]
    assert log[0].seq == log[1].seq and log[0].time == log[1].time == 1.0
    pbu, pba = net.sent
    assert isinstance(pbu, PBU) and isinstance(pba, PBA)
    assert (pbu.mn_id, pbu.mn_ll_id, pbu.coa, pbu.hnps) == ("mn1", MN1_MAC, EMAG1_ADDR, [])
    assert pbu.lifetime == 60 and pbu.timestamp == 1.0
    assert pbu.handoff == HandoffIndicator.NEW_INTERFACE
    assert pba.status == Status.ACCEPTED
    assert pba.mn_id == "mn1" and pba.coa == EMAG1_ADDR and pba.lifetime == 60
    assert pba.previous_coa == ""
    assert pba.elma is True
    assert len(pba.hnps) == 1
    hnp = ipaddress.IPv6Network(pba.hnps[0])
    assert hnp.prefixlen == 64 and hnp.subnet_of(ELMA1_PREFIX)
    # the binding cache and the MAG agree
    bce = net.ctl.binding("mn1")
    assert bce["lma"] == "elma1" and bce["proxy_coa"] == EMAG1_ADDR and bce["hnps"] == [str(hnp)]
    assert bce["state"] == "active" and bce["expires_at"] == 61.0
    att = net.ctl.mags["emag1"].attachments["mn1"]
    assert att.state == "bound" and att.port == port and att.hnps == [hnp] and att.refresh_at == 31.0
    # LMA binding flow (HNP -> tunnel to emag1), then the MAG's flows, then the RA on the MN's port
    binding = [fm for fm in flow_mods(intents, 11) if fm.cookie == cookie(Fn.BINDING, 0)]
    assert len(binding) == 1 and binding[0].match["ipv6_dst"] == str(hnp)
    ras = packet_outs(intents)
    assert [(p.dpid, p.port) for p in ras] == [(1, port)]
    assert intents.index(ras[0]) > intents.index(binding[0])
    mag_flows = [fm for fm in flow_mods(intents, 1) if fm.cookie == cookie(Fn.ACCESS, 0)]
    assert {fm.table for fm in mag_flows} == {Table.CLASSIFY, Table.UPLINK, Table.ROUTE}
    stats = net.ctl.stats()
    assert stats["messages"] == {"PBA": 1, "PBU": 1}
    assert stats["events"]["registration_completed"] == 1


def test_lma_mag_and_drf_share_one_hnp_object(net, domain):
    """Memory per MN (issue 13): the MAG keeps the LMA's HNP objects (no second IPv6Network per
    HNP), also across a refresh, and the DRF's local location is keyed by the same object."""
    net.attach("mn1", now=1.0)
    bce = net.ctl.lmas["elma1"].cache.get("mn1")
    node = net.ctl.mags["emag1"]
    att = node.attachments["mn1"]
    assert att.hnps == bce.hnps and att.hnps[0] is bce.hnps[0]
    drf_key = next(k for k in node.drf.location if k == bce.hnps[0])
    assert drf_key is bce.hnps[0]
    assert "mn1" not in node.dmf.arrived_at  # the DMF reads the arrival from the attachment
    net.ctl.tick(1.0 + domain.timers.binding_lifetime * domain.timers.refresh_fraction)
    assert bce.updates == 1 and node.attachments["mn1"].hnps[0] is bce.hnps[0]


def test_registration_leaves_one_timer_entry_per_mn(net, domain):
    """Memory per MN (issue 13): a registration answered in time leaves one MAG heap entry (its
    PBU's timeout); that entry's pop schedules the refresh, which still comes on time."""
    net.attach("mn1", now=1.0)
    mag = net.ctl.mags["emag1"].mag
    assert [w for w, m in mag._timers if m == "mn1"] == [1.0 + domain.timers.initial_bindack_timeout]
    net.ctl.tick(2.5)
    refresh_at = 1.0 + domain.timers.binding_lifetime * domain.timers.refresh_fraction
    assert [w for w, m in mag._timers if m == "mn1"] == [refresh_at]
    assert len(net.messages("PBU")) == 1
    net.ctl.tick(refresh_at)
    assert len(net.messages("PBU")) == 2 and net.ctl.counters["binding_refresh"] == 1


def test_router_advertisement_carries_the_hnp(net):
    intents = net.attach("mn1", now=1.0)
    hnp = ipaddress.IPv6Network(net.ctl.binding("mn1")["hnps"][0])
    ra = parse_ra(packet_outs(intents)[0].data)
    assert ra["src"] == "fe80::1"
    assert ra["hop_limit"] == 255
    assert ra["eth_src"] == "02:00:00:00:00:01" and ra["eth_dst"] == MN1_MAC
    assert ra["dst"] == "ff02::1"  # no RS seen: the RA goes to all nodes, unicast on the link
    assert ra["router_lifetime"] > 0
    assert ra["option_types"] == [1, 3, 5]  # source link-layer address, prefix info, MTU
    assert ra["prefixes"] == [{"prefix": hnp, "valid": 60, "A": True, "L": False}]


def test_router_solicitation_triggers_registration(net):
    port = net.host_port("emag1")
    rs = ndp.router_solicitation(MN1_MAC, MN1_LL)
    intents = net.ctl.packet_in(1, port, rs, 1.0)
    assert [(m.type, m.src, m.dst) for m in net.ctl.bus.log] == [
        ("PBU", "emag1", "elma1"),
        ("PBA", "elma1", "emag1"),
    ]
    assert net.ctl.counters["packet_in_rs"] == 1
    (out,) = packet_outs(intents)
    assert (out.dpid, out.port) == (1, port)
    ra = parse_ra(out.data)
    assert ra["dst"] == MN1_LL  # answers the soliciting address
    assert ra["prefixes"][0]["prefix"].subnet_of(ELMA1_PREFIX)
    # a second RS from the bound MN is answered at once, without new signalling
    intents = net.ctl.packet_in(1, port, rs, 2.0)
    assert len(packet_outs(intents)) == 1
    assert len(net.ctl.bus.log) == 2


def test_rs_from_unspecified_address_gets_all_nodes_ra(net):
    intents = net.ctl.packet_in(1, net.host_port("emag1"), ndp.router_solicitation(MN1_MAC, "::"), 1.0)
    assert parse_ra(packet_outs(intents)[0].data)["dst"] == "ff02::1"


def test_pbu_retransmitted_and_rs_answered_when_pba_comes(net):
    elma1 = net.ctl.lmas["elma1"]
    net.ctl.bus.register("elma1", lambda msg, now: None)  # the first PBU is lost
    port = net.host_port("emag1")
    assert packet_outs(net.attach("mn1", now=1.0)) == []
    att = net.ctl.mags["emag1"].attachments["mn1"]
    assert att.state == "registering"
    assert net.ctl.packet_in(1, port, ndp.router_solicitation(MN1_MAC, MN1_LL), 1.2) == []
    net.ctl.bus.register("elma1", elma1.handle)
    assert net.ctl.tick(1.9) == []  # InitialBindackTimeoutFirstReg is 1 s
    intents = net.ctl.tick(2.0)
    pbus = net.messages("PBU")
    assert len(pbus) == 2 and pbus[0].seq == pbus[1].seq
    assert att.state == "bound"
    (ra,) = packet_outs(intents)
    assert ra.port == port and parse_ra(ra.data)["dst"] == MN1_LL


def test_rs_from_unknown_host_or_non_mag_is_ignored(net):
    rs = ndp.router_solicitation("02:00:00:00:09:09", "fe80::9")
    assert net.ctl.packet_in(1, 2, rs, 1.0) == []
    assert net.ctl.packet_in(31, 7, ndp.router_solicitation(MN1_MAC, MN1_LL), 1.0) == []  # c1
    assert net.ctl.counters["rs_ignored"] == 2
    assert not net.ctl.bus.log


def test_neighbour_solicitation_for_router_gets_na(net):
    port = net.host_port("emag1")
    intents = net.ctl.packet_in(1, port, ndp.neighbour_solicitation(MN1_MAC, MN1_LL, "fe80::1"), 1.0)
    (out,) = packet_outs(intents)
    assert (out.dpid, out.port) == (1, port)
    pkt = packet.Packet(out.data)
    ip6 = pkt.get_protocol(ipv6.ipv6)
    icmp = pkt.get_protocol(icmpv6.icmpv6)
    assert icmp.type_ == icmpv6.ND_NEIGHBOR_ADVERT
    assert (ip6.src, ip6.dst, ip6.hop_limit) == ("fe80::1", MN1_LL, 255)
    assert icmp.data.dst == "fe80::1"
    assert icmp.data.res & 0b010  # solicited
    assert icmp.data.option.hw_src == "02:00:00:00:00:01"
    assert pkt.get_protocol(ethernet.ethernet).dst == MN1_MAC
    assert not net.ctl.bus.log  # ND for the router starts no registration


def test_neighbour_solicitation_other_target_and_dad(net):
    port = net.host_port("emag1")
    assert net.ctl.packet_in(1, port, ndp.neighbour_solicitation(MN1_MAC, MN1_LL, "fe80::77"), 1.0) == []
    intents = net.ctl.packet_in(1, port, ndp.neighbour_solicitation(MN1_MAC, "::", "fe80::1"), 1.0)
    icmp = packet.Packet(packet_outs(intents)[0].data).get_protocol(icmpv6.icmpv6)
    assert not icmp.data.res & 0b010  # a DAD probe gets an unsolicited NA to all nodes
    assert packet.Packet(packet_outs(intents)[0].data).get_protocol(ipv6.ipv6).dst == "ff02::1"


# ---------------------------------------------------------------- the LMA's rules


def test_older_timestamp_is_rejected_and_bce_kept(net):
    net.attach("mn1", now=10.0)
    before = net.ctl.binding("mn1")
    pba = inject_pbu(net, 12.0, timestamp=5.0)
    assert pba.status == Status.TIMESTAMP_LOWER_THAN_PREV_ACCEPTED == 157
    assert net.ctl.binding("mn1") == before
    assert net.ctl.counters["pba_status_157"] == 1
    # an equal or newer timestamp is accepted and refreshes the entry
    assert inject_pbu(net, 12.0, timestamp=12.0).status == Status.ACCEPTED
    assert net.ctl.binding("mn1")["expires_at"] == 72.0


@pytest.mark.parametrize("fields, status", [
    ({"mn_id": "mn9"}, Status.PROXY_REG_NOT_ENABLED),
    ({"mn_id": ""}, Status.MISSING_MN_IDENTIFIER_OPTION),
    ({"coa": "2001:db8:ffff::13"}, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG),  # elma3's address
    ({"coa": "2001:db8:ffff::99"}, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG),  # nobody's
    ({"coa": EMAG2_ADDR}, Status.MAG_NOT_AUTHORIZED_FOR_PROXY_REG),  # emag1 speaking for emag2
    ({"mn_id": "mn2", "mn_ll_id": "02:00:00:00:01:02"}, Status.NOT_LMA_FOR_THIS_MOBILE_NODE),
    ({"mn_id": "cn2", "hnps": ["2001:db8:1:5::/64"]}, Status.NOT_LMA_FOR_THIS_MOBILE_NODE),
    ({"hnps": ["2001:db8:a:99::/64"]}, Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX),
    ({"hnps": ["2001:db8:a:1::/64", "2001:db8:a:2::/64"]},
     Status.NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX),
], ids=["unknown-mn", "no-mn-id", "coa-is-lma", "coa-unknown", "coa-other-mag",
        "other-lma", "legacy-hnp", "wrong-hnp", "extra-hnp"])  # fmt: skip
def test_pbu_rejections(net, fields, status):
    pba = inject_pbu(net, 3.0, **fields)
    assert pba.status == status
    assert pba.hnps == []
    assert net.ctl.bindings() == []
    assert net.ctl.counters[f"pba_status_{int(status)}"] == 1
    assert net.ctl.counters["bce_created"] == 0


def test_pbu_with_a_coa_that_is_no_address_is_malformed_and_changes_nothing(net):
    """The decoder checks every address field (issue 10): such a PBU is dropped and counted, as a
    Mobility Header whose CoA could not be parsed would be; no PBA, no binding."""
    before = len(net.messages("PBA"))
    with pytest.raises(AssertionError, match="must answer"):
        inject_pbu(net, 3.0, coa="not-an-address")
    assert len(net.messages("PBA")) == before and net.ctl.bindings() == []
    assert net.ctl.stats()["signalling_errors"] == {"malformed": 1}


def test_pbu_with_the_right_hnp_is_accepted(net):
    pba = inject_pbu(net, 3.0, hnps=["2001:db8:a:1::/64"])
    assert pba.status == Status.ACCEPTED and pba.hnps == ["2001:db8:a:1::/64"]
    assert net.ctl.binding("mn1")["hnps"] == ["2001:db8:a:1::/64"]


def test_pbu_for_a_disallowed_mn_is_rejected(doc, build_domain, make_net):
    next(m for m in doc["mobile_nodes"] if m["id"] == "mn3")["allowed"] = False
    net = make_net(build_domain(doc))
    pba = inject_pbu(net, 3.0, mn_id="mn3", src="emag2", coa=EMAG2_ADDR)
    assert pba.status == Status.PROXY_REG_NOT_ENABLED


def test_disallowed_mn_gets_no_pbu(doc, build_domain, make_net):
    next(m for m in doc["mobile_nodes"] if m["id"] == "mn3")["allowed"] = False
    net = make_net(build_domain(doc))
    intents = net.attach("mn3", now=1.0)
    assert net.messages("PBU") == [] and not net.ctl.bus.log
    assert packet_outs(intents) == []
    assert net.ctl.counters["attach_refused"] == 1
    assert "mn3" not in net.ctl.mags["emag2"].attachments
    rs = ndp.router_solicitation("02:00:00:00:01:03", "fe80::3")
    assert net.ctl.packet_in(2, net.host_port("emag2"), rs, 2.0) == []
    assert net.messages("PBU") == []
    # the others still register
    net.attach("mn1", now=3.0)
    assert net.ctl.binding("mn1") is not None


# ---------------------------------------------------------------- refresh and lifetime


def test_refresh_before_expiry(net, domain):
    net.attach("mn1", now=1.0)
    assert net.ctl.binding("mn1")["expires_at"] == 61.0
    refresh_at = 1.0 + domain.timers.binding_lifetime * domain.timers.refresh_fraction
    assert net.ctl.tick(refresh_at - 0.1) == []
    assert len(net.messages("PBU")) == 1
    intents = net.ctl.tick(refresh_at)
    pbus = net.messages("PBU")
    assert len(pbus) == 2
    refresh = pbus[-1]
    assert refresh.lifetime == 60 and refresh.handoff == HandoffIndicator.NOT_CHANGED
    assert refresh.timestamp == refresh_at and refresh.hnps == net.ctl.binding("mn1")["hnps"]
    assert last_pba(net).status == Status.ACCEPTED and last_pba(net).seq == refresh.seq
    bce = net.ctl.binding("mn1")
    assert bce["expires_at"] == refresh_at + 60 and bce["updates"] == 1
    # the refresh is re-advertised: the RA's prefix lifetimes follow the binding's
    ras = packet_outs(intents)
    assert [(p.dpid, p.port) for p in ras] == [(1, net.ctl.attachment_of("mn1")[1])]
    assert net.ctl.counters["binding_refresh"] == 1
    # the next refresh is another half lifetime later
    assert net.ctl.tick(refresh_at + 29.9) == [] and len(net.messages("PBU")) == 2
    net.ctl.tick(refresh_at + 30)
    assert len(net.messages("PBU")) == 3


def test_unrefreshed_binding_expires(net):
    net.attach("mn1", now=1.0)
    elma1 = net.ctl.lmas["elma1"]
    elma1.tick(60.9)
    assert net.ctl.binding("mn1") is not None
    elma1.tick(61.0)
    assert net.ctl.binding("mn1") is None
    assert net.ctl.counters["bce_deleted"] == 1


# ---------------------------------------------------------------- de-registration


def test_detach_deregisters_and_deletes_after_delay(net, domain):
    net.attach("mn1", now=1.0)
    hnp = net.ctl.binding("mn1")["hnps"][0]
    intents = net.detach("emag1", now=5.0)
    dereg = net.messages("PBU")[-1]
    assert dereg.lifetime == 0 and dereg.src == "emag1" and dereg.timestamp == 5.0
    assert last_pba(net).status == Status.ACCEPTED
    assert any(fm.command == "delete" and fm.cookie == cookie(Fn.ACCESS, 0) for fm in flow_mods(intents, 1))
    assert "mn1" not in net.ctl.mags["emag1"].attachments
    bce = net.ctl.binding("mn1")
    delay = domain.timers.min_delay_before_bce_delete
    assert bce["state"] == "deleting" and bce["delete_at"] == 5.0 + delay
    assert net.ctl.locate(ipaddress.IPv6Address(hnp.split("/")[0]))["coa"] is None
    assert flow_mods(net.ctl.tick(5.0 + delay - 0.1), 11) == []
    assert net.ctl.binding("mn1")["state"] == "deleting"
    intents = net.ctl.tick(5.0 + delay)
    assert net.ctl.binding("mn1") is None
    deletes = [fm for fm in flow_mods(intents, 11) if fm.command == "delete_strict"]
    assert len(deletes) == 1
    assert deletes[0].table == Table.ROUTE and deletes[0].match["ipv6_dst"] == hnp
    assert deletes[0].cookie == cookie(Fn.BINDING, 0)
    assert net.ctl.counters["bce_deleted"] == 1


def test_new_registration_within_delay_revives_bce(net):
    net.attach("mn1", now=1.0)
    net.detach("emag1", now=5.0)
    assert net.ctl.binding("mn1")["state"] == "deleting"
    net.attach("mn1", switch="emag2", now=7.0)  # the MN shows up on another MAG
    pba = last_pba(net)
    assert pba.status == Status.ACCEPTED and pba.dst == "emag2"
    assert pba.previous_coa == EMAG1_ADDR
    bce = net.ctl.binding("mn1")
    assert bce["state"] == "active" and bce["delete_at"] is None
    assert bce["proxy_coa"] == EMAG2_ADDR and bce["previous_coa"] == EMAG1_ADDR
    intents = net.ctl.tick(16.0)
    assert net.ctl.binding("mn1")["state"] == "active"
    assert not [fm for fm in flow_mods(intents, 11) if fm.command != "add"]
    assert net.ctl.attachment_of("mn1") == ("emag2", net.host_port("emag2"))


def test_reattach_on_same_mag_within_delay(net):
    net.attach("mn1", now=1.0)
    net.detach("emag1", now=5.0)
    net.attach("mn1", now=6.0)
    bce = net.ctl.binding("mn1")
    assert bce["state"] == "active" and bce["proxy_coa"] == EMAG1_ADDR
    assert last_pba(net).previous_coa == ""
    net.ctl.tick(15.0)
    assert net.ctl.binding("mn1")["state"] == "active"


def test_deregistration_from_old_mag_changes_nothing(doc, build_domain, make_net):
    # pmip mode: in epmip mode the new eMAG's PBCI already tells the old one that the MN left,
    # so the old one sends no de-registration at all (see test_daf.py).
    doc["mode"] = "pmip"
    net = make_net(build_domain(doc))
    net.attach("mn1", now=1.0)
    net.attach("mn1", switch="emag2", now=3.0)  # make-before-break: new port first
    before = net.ctl.binding("mn1")
    assert before["proxy_coa"] == EMAG2_ADDR
    net.detach("emag1", now=4.0)
    dereg = net.messages("PBU")[-1]
    assert dereg.src == "emag1" and dereg.lifetime == 0
    assert last_pba(net).status == Status.ACCEPTED
    assert net.ctl.binding("mn1") == before
    assert net.ctl.counters["bce_deregistered"] == 0
    net.ctl.tick(20.0)
    assert net.ctl.binding("mn1")["state"] == "active"


def test_detach_of_unregistered_port_sends_nothing(net):
    net.detach("emag1", now=1.0)
    assert not net.ctl.bus.log


# ---------------------------------------------------------------- eLMA vs legacy LMA


def test_legacy_lma_disables_daf(net):
    net.attach("mn1", now=1.0)
    net.attach("cn2", now=1.0)
    assert net.ctl.mags["emag1"].attachments["mn1"].lma == "elma1"
    assert net.ctl.mags["emag1"].attachments["mn1"].daf is True
    att = net.ctl.mags["mag5"].attachments["cn2"]
    assert att.lma == "lma" and att.daf is False and att.state == "bound"
    pba = last_pba(net)
    assert pba.src == "lma" and pba.elma is False
    assert net.ctl.binding("cn2")["lma"] == "lma"
    assert net.ctl.binding("cn2")["hnps"] == ["2001:db8:1:5::/64"]


def test_profile_hnp_on_legacy_lma_wins_on_an_emag(net):
    net.attach("cn2", switch="emag1", now=1.0)
    att = net.ctl.mags["emag1"].attachments["cn2"]
    assert att.lma == "lma" and att.daf is False and att.state == "bound"


def test_mn_on_non_mag_switch_is_not_registered(net):
    net.attach("mn1", switch="c1", port=net.host_port("c1"), now=1.0)
    assert not net.ctl.bus.log
    assert net.ctl.counters["mn_on_non_mag"] == 1


# ---------------------------------------------------------------- robustness


def _ipv4_frame() -> bytes:
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst="ff:ff:ff:ff:ff:ff", src=MN1_MAC, ethertype=0x0800))
    pkt.add_protocol(ipv4.ipv4(src="10.0.0.1", dst="10.0.0.2", proto=17))
    pkt.add_protocol(udp.udp(src_port=1, dst_port=2))
    pkt.serialize()
    return bytes(pkt.data)


def _icmpv6_frame(body, hop_limit: int = 255) -> bytes:
    pkt = packet.Packet()
    pkt.add_protocol(ethernet.ethernet(dst="33:33:00:00:00:02", src=MN1_MAC, ethertype=0x86DD))
    pkt.add_protocol(ipv6.ipv6(src=MN1_LL, dst="ff02::2", nxt=58, hop_limit=hop_limit))
    pkt.add_protocol(body)
    pkt.serialize()
    return bytes(pkt.data)


BAD_PACKETS = {
    "empty": b"",
    "short": b"\x02\x00\x00",
    "garbage": bytes(range(256))[::-1] * 2,
    "ipv4": _ipv4_frame(),
    "echo-request": _icmpv6_frame(icmpv6.icmpv6(type_=icmpv6.ICMPV6_ECHO_REQUEST,
                                                data=icmpv6.echo(1, 1))),
    "rs-hop-limit-64": _icmpv6_frame(icmpv6.icmpv6(type_=icmpv6.ND_ROUTER_SOLICIT,
                                                   data=icmpv6.nd_router_solicit()), hop_limit=64),
    "ipv6-header-only": ndp.router_solicitation(MN1_MAC, MN1_LL)[:14 + 40],
    "truncated-rs": ndp.router_solicitation(MN1_MAC, MN1_LL)[:-9],
}  # fmt: skip


@pytest.mark.parametrize("data", list(BAD_PACKETS.values()), ids=list(BAD_PACKETS))
def test_malformed_packet_in_is_rejected(net, data):
    assert net.ctl.packet_in(1, net.host_port("emag1"), data, 1.0) == []
    assert net.ctl.counters["packet_in_rejected"] == 1
    assert not net.ctl.bus.log


def test_random_packet_ins_never_raise(net):
    rng = random.Random(4861)
    eth_ipv6 = bytes.fromhex("020000000001" + MN1_MAC.replace(":", "") + "86dd")
    rs = ndp.router_solicitation(MN1_MAC, MN1_LL)
    for i in range(600):
        if i % 3 == 0:
            data = rng.randbytes(rng.randrange(0, 100))
        elif i % 3 == 1:
            data = eth_ipv6 + rng.randbytes(rng.randrange(0, 100))
        else:
            frame = bytearray(rs)
            for _ in range(rng.randrange(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
            data = bytes(frame)
        assert isinstance(net.ctl.packet_in(1, 5, data, 1.0 + i), list)
    assert net.ctl.counters["packet_in_rejected"] > 0


def test_switch_not_in_domain_is_ignored(net):
    assert net.ctl.switch_up(999, [PortInfo(1, "0a:00:00:00:00:01")], 1.0) == []
    assert net.ctl.counters["unknown_switch"] == 1
    assert 999 not in net.ctl.connected
    assert net.ctl.port_added(999, PortInfo(2, "06:00:00:00:01:01"), 1.0) == []
    assert net.ctl.port_removed(999, 2, 1.0) == []
    assert net.ctl.packet_in(999, 2, ndp.router_solicitation(MN1_MAC, MN1_LL), 1.0) == []
    assert net.ctl.counters["packet_in_unknown_switch"] == 1
    assert not net.ctl.bus.log
    assert net.ctl.switch_down(999, 1.0) == []


def test_events_before_switch_up_are_ignored(controller):
    rs = ndp.router_solicitation(MN1_MAC, MN1_LL)
    assert controller.packet_in(1, 2, rs, 1.0) == []
    assert controller.port_added(1, PortInfo(2, "06:00:00:00:01:01"), 1.0) == []
    assert not controller.bus.log


def test_a_profile_hnp_inside_the_pool_is_never_given_to_another_mn(doc, build_domain, make_net):
    # without its profile HNP, cn2 gets /64 number i+1 of the legacy LMA's pool (i: its position);
    # mn3's profile names that /64, so cn2 must take the next number of its own sequence, i+1+M
    next(m for m in doc["mobile_nodes"] if m["id"] == "cn2").pop("hnp")
    number = [m["id"] for m in doc["mobile_nodes"]].index("cn2") + 1
    mn3 = next(m for m in doc["mobile_nodes"] if m["id"] == "mn3")
    mn3["hnp"] = f"2001:db8:1:{number:x}::/64"
    mn3.pop("lma", None)
    domain = build_domain(doc)
    net = make_net(domain)
    net.attach("cn2", now=1.0)
    assert net.ctl.binding("cn2")["hnps"] == [f"2001:db8:1:{number + len(domain.mobile_nodes):x}::/64"]
    net.attach("mn3", now=2.0)
    assert net.ctl.binding("mn3")["hnps"] == [mn3["hnp"]]
