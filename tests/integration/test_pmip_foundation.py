"""End to end on real OVS + Mininet: registration (RFC 5213 / §4.1), PMIP routing via the LMAs,
REST, robustness against bad packets, refresh and de-registration."""

from __future__ import annotations

import ipaddress
import time

from integration.helpers import iperf_server
from mininet_topos.harness import dump_flows, wait_for
from openflow_rules.pipeline import Fn, Table, cookie

# The RFC 5213 baseline: in pmip mode every packet goes through the anchors, which is what the
# flow-counter assertions below check.  (epmip mode: tests/integration/test_epmip_routing_handoff.py)
DOMAIN = {"mode": "pmip"}


def flow_packets(bridge: str, fn: Fn, obj: int = 0, table: int | None = None) -> int:
    c = cookie(fn, obj)
    return sum(f["n_packets"] for f in dump_flows(bridge, table) if f["cookie"] == c)


def local_label_packets(bridge: str) -> int:
    """Packets that ended a tunnel on this switch (the label naming it was popped)."""
    return sum(f["n_packets"] for f in dump_flows(bridge, Table.LABEL) if "pop_mpls" in f["actions"])


def grows_by(read, before: int, at_least: int, what: str) -> None:
    """OVS updates flow counters lazily (about every 0.5 s): poll until they show the traffic."""
    wait_for(lambda: read() - before >= at_least, 3, f"{what} to count {at_least} more packets")


def mn_obj(live, mn_id: str) -> int:
    return list(live.domain.mobile_nodes).index(mn_id)


def test_every_mn_configures_an_address_inside_its_hnp(live):
    for mn_id in live.domain.mobile_nodes:
        status, bce = live.rest(f"/epmip/v1/bindings/{mn_id}")
        assert status == 200, bce
        hnp = ipaddress.IPv6Network(bce["hnps"][0])
        assert ipaddress.IPv6Address(live.addresses[mn_id]) in hnp
        mag = live.domain.mobile_nodes[mn_id].attach
        assert bce["proxy_coa"] == str(live.domain.switches[mag].address)
        assert bce["state"] == "active"


def test_legacy_lma_serves_the_mn_whose_hnp_it_manages(live):
    status, bce = live.rest("/epmip/v1/bindings/cn2")
    assert status == 200
    assert bce["lma"] == "lma"
    status, sw = live.rest("/epmip/v1/switches")
    mag5 = next(s for s in sw["switches"] if s["name"] == "mag5")
    assert mag5["attached"][0]["mn_id"] == "cn2" and mag5["attached"][0]["daf"] is False
    emag1 = next(s for s in sw["switches"] if s["name"] == "emag1")
    assert emag1["attached"][0]["daf"] is False  # pmip mode: no DAF for anyone


def test_rest_answers_and_rejects_bad_calls(live):
    status, body = live.rest("/epmip/v1/bindings")
    assert status == 200 and {b["mn_id"] for b in body["bindings"]} == set(live.domain.mobile_nodes)
    status, body = live.rest("/epmip/v1/bindings/nobody")
    assert status == 404 and "nobody" in body["error"]
    status, body = live.rest("/epmip/v1/locations?address=not-an-address")
    assert status == 400 and body["parameter"] == "address"
    status, body = live.rest(f"/epmip/v1/locations?address={live.addresses['mn2']}")
    assert status == 200 and body["lma"] == "elma3" and body["coa_switch"] == "emag4"
    status, body = live.rest("/epmip/v1/stats")
    assert body["messages"]["PBU"] >= 4 and body["messages"]["PBA"] >= 4


def test_ping_between_mns_on_different_lmas_goes_through_both_lmas(live):
    """Scenario A22 under PMIP: MN1 -> eMAG1 -> eLMA1 -> routing -> eLMA3 -> eMAG4 -> MN2."""
    before_in = local_label_packets("elma1")
    before_bind = flow_packets("elma3", Fn.BINDING, mn_obj(live, "mn2"))
    before_back = flow_packets("elma1", Fn.BINDING, mn_obj(live, "mn1"))
    sent, received = live.net.ping6("mn1", live.addresses["mn2"], count=5)
    assert received == sent == 5
    # MN1's reverse tunnel ends on eLMA1; eLMA3 tunnels to eMAG4; replies come back via eLMA1
    grows_by(lambda: local_label_packets("elma1"), before_in, 5, "eLMA1's tunnel end")
    grows_by(lambda: flow_packets("elma3", Fn.BINDING, mn_obj(live, "mn2")), before_bind, 5, "eLMA3's MN2 binding")
    grows_by(lambda: flow_packets("elma1", Fn.BINDING, mn_obj(live, "mn1")), before_back, 5, "eLMA1's MN1 binding")


def test_ping_between_mns_on_the_same_lma_goes_through_it(live):
    """Scenario A21 under PMIP: MN1 -> eMAG1 -> eLMA1 -> eMAG2 -> MN3."""
    before = flow_packets("elma1", Fn.BINDING, mn_obj(live, "mn3"))
    sent, received = live.net.ping6("mn1", live.addresses["mn3"], count=5)
    assert received == sent
    grows_by(lambda: flow_packets("elma1", Fn.BINDING, mn_obj(live, "mn3")), before, 5, "eLMA1's MN3 binding")


def test_ping_to_fixed_cn_and_to_legacy_domain(live):
    before = flow_packets("elma1", Fn.BINDING, mn_obj(live, "mn1"))
    assert live.net.ping6("mn1", live.addresses["cn1"], count=3) == (3, 3)
    # CN1 -> MN1 is routed to eLMA1, which tunnels it to eMAG1
    grows_by(lambda: flow_packets("elma1", Fn.BINDING, mn_obj(live, "mn1")), before, 3, "eLMA1's MN1 binding")
    before = flow_packets("lma", Fn.BINDING, mn_obj(live, "cn2"))
    assert live.net.ping6("mn2", live.addresses["cn2"], count=3) == (3, 3)
    grows_by(
        lambda: flow_packets("lma", Fn.BINDING, mn_obj(live, "cn2")),
        before,
        3,
        "the legacy LMA's CN2 binding",
    )


def _iperf(live, client: str, server: str, udp: bool) -> dict:
    srv = live.net.host(server)
    iperf_server(srv, 5201)
    flags = "-u -b 2M" if udp else ""
    out = live.net.host(client).cmd(f"timeout 15 iperf3 -6 -c {live.addresses[server]} -p 5201 -t 1 {flags} -J")
    import json

    return json.loads(out[out.index("{") :])


def test_tcp_and_udp_through_the_lmas(live):
    result = _iperf(live, "mn1", "mn2", udp=False)
    assert "error" not in result, result.get("error")
    assert result["end"]["sum_received"]["bytes"] > 100_000
    result = _iperf(live, "mn3", "mn2", udp=True)
    assert "error" not in result, result.get("error")
    summary = result["end"]["sum"]
    assert summary["packets"] > 50 and summary["lost_percent"] < 5


def _send_raw(live, host: str, frame_hex: str) -> None:
    intf = f"{host}-eth0"
    code = (
        "import socket,binascii;s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);"
        f"s.bind(('{intf}',0));s.send(binascii.unhexlify('{frame_hex}'))"
    )
    live.net.host(host).cmd(f'python3 -c "{code}"')


def test_malformed_packets_from_a_host_do_not_hurt(live):
    _, before = live.rest("/epmip/v1/stats")
    mac = live.domain.mobile_nodes["mn1"].mac.replace(":", "")
    eth = "333300000002" + mac + "86dd"
    # RS with hop limit 64 (RFC 4861 says 255): punted by the RS rule, rejected by the parser.
    rs_bad_hlim = (
        eth + "6000000000083a40" + "fe80" + "00" * 12 + "0101" + "ff02" + "00" * 13 + "02" + "8500000000000000"
    )
    # RS with an option of length 0 (malformed; the checksum 0x7b2e is right, so that is what the parser rejects).
    rs_bad_opt = (
        eth
        + "6000000000103aff"
        + "fe80"
        + "00" * 12
        + "0101"
        + "ff02"
        + "00" * 13
        + "02"
        + "85007b2e00000000"
        + "0100"
        + "00" * 6
    )
    for frame in (rs_bad_hlim, rs_bad_opt):
        _send_raw(live, "mn1", frame)
    wait_for(
        lambda: live.rest("/epmip/v1/stats")[1]["events"].get("packet_in_rejected", 0)
        >= before["events"].get("packet_in_rejected", 0) + 2,
        5, "the controller to count two rejected packets",
    )  # fmt: skip
    status, body = live.rest("/epmip/v1/bindings")
    assert status == 200 and len(body["bindings"]) == len(live.domain.mobile_nodes)
    assert live.net.ping6("mn1", live.addresses["mn2"], count=2) == (2, 2)


def test_bindings_are_refreshed_before_they_expire(live):
    # binding_lifetime is 4 s in this module's domain file; refresh at half of it.
    wait_for(
        lambda: all(b["updates"] >= 1 for b in live.rest("/epmip/v1/bindings")[1]["bindings"]),
        8,
        "every binding to be refreshed",
    )
    time.sleep(4.5)  # longer than one lifetime: still bound because it was refreshed
    status, body = live.rest("/epmip/v1/bindings/mn1")
    assert status == 200 and body["state"] == "active"


def test_detached_mn_is_deregistered_and_its_flows_removed(live):
    obj = mn_obj(live, "mn3")
    assert any(f["cookie"] == cookie(Fn.BINDING, obj) for f in dump_flows("elma1"))
    live.net.net.configLinkStatus("mn3", "emag2", "down")
    wait_for(
        lambda: live.rest("/epmip/v1/bindings/mn3")[1].get("state") == "deleting",
        5,
        "mn3's binding to enter the deleting state",
    )
    assert not any(f["cookie"] == cookie(Fn.ACCESS, obj) for f in dump_flows("emag2"))
    # MinDelayBeforeBCEDelete is 1.5 s here.
    wait_for(lambda: live.rest("/epmip/v1/bindings/mn3")[0] == 404, 5, "mn3's binding to be deleted")
    assert not any(f["cookie"] == cookie(Fn.BINDING, obj) for f in dump_flows("elma1"))
    events = live.rest("/epmip/v1/stats")[1]["events"]
    assert events["bce_deregistered"] >= 1 and events["bce_deleted"] >= 1
    # the others are untouched
    assert live.net.ping6("mn1", live.addresses["mn2"], count=2) == (2, 2)
