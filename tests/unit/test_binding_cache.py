"""The compact BindingCacheEntry behaves like the dataclass it replaced (attributes, defaults,
equality, to_json) and shares its CoA objects."""

from __future__ import annotations

import ipaddress

import pytest

from controller.binding_cache import ACTIVE, DELETING, BindingCache, BindingCacheEntry

A = ipaddress.IPv6Address


def _bce(mn_id: str = "mn1", coa: str = "2001:db8:ffff::1", hnp: str = "2001:db8:a:1::/64") -> BindingCacheEntry:
    return BindingCacheEntry(
        mn_id=mn_id, mn_ll_id="02:00:00:00:01:01", hnps=[ipaddress.IPv6Network(hnp)], coa=A(coa),
        lifetime=60.0, timestamp=100.0, registered_at=1.0, expires_at=61.0,
    )  # fmt: skip


def test_defaults_and_attributes():
    bce = _bce()
    assert (bce.state, bce.delete_at, bce.previous_coa, bce.updates) == (ACTIVE, None, None, 0)
    assert bce.history == [] and bce.history is bce.history
    bce.history.append("x")
    assert bce.history == ["x"]
    bce.coa, bce.previous_coa, bce.state, bce.delete_at, bce.updates = A("2001:db8:ffff::2"), bce.coa, DELETING, 5.0, 1
    assert bce.coa == A("2001:db8:ffff::2") and bce.previous_coa == A("2001:db8:ffff::1")
    assert (bce.state, bce.delete_at, bce.updates) == (DELETING, 5.0, 1)
    with pytest.raises(AttributeError):
        bce.no_such_field = 1  # slots: a typo is an error, not a new attribute


def test_coa_objects_are_shared_and_values_kept():
    cache = BindingCache()
    one, two = _bce("mn1"), _bce("mn2")
    two.coa = A("2001:db8:ffff::1")  # an equal value, another object
    cache.put(one)
    cache.put(two)
    assert one.coa is two.coa  # one object per distinct CoA in a cache
    assert two.coa == A("2001:db8:ffff::1")
    two.previous_coa = A("2001:db8:ffff::1")
    cache.put(two)
    assert two.previous_coa is one.coa
    other = _bce("mn3")
    other.coa = A("2001:db8:ffff::9")
    cache.put(other)
    assert other.coa == A("2001:db8:ffff::9")  # values are kept


def test_equality_repr_and_json():
    assert _bce() == _bce() and _bce("mn1") != _bce("mn2")
    with pytest.raises(TypeError):
        hash(_bce())
    assert "mn_id='mn1'" in repr(_bce()) and "coa=IPv6Address('2001:db8:ffff::1')" in repr(_bce())
    bce = _bce()
    bce.previous_coa = A("2001:db8:ffff::3")
    assert bce.to_json("elma1") == {
        "mn_id": "mn1", "mn_link_layer_id": "02:00:00:00:01:01", "hnps": ["2001:db8:a:1::/64"],
        "proxy_coa": "2001:db8:ffff::1", "previous_coa": "2001:db8:ffff::3", "lma": "elma1", "lifetime": 60.0,
        "timestamp": 100.0, "registered_at": 1.0, "expires_at": 61.0, "state": "active", "delete_at": None,
        "updates": 0,
    }  # fmt: skip


def test_cache_lookup_by_address():
    cache = BindingCache()
    cache.put(_bce("mn1", hnp="2001:db8:a:1::/64"))
    cache.put(_bce("mn2", hnp="2001:db8:a:2::/64"))
    assert cache.lookup(A("2001:db8:a:2::10")).mn_id == "mn2"
    cache.put(_bce("mn2", hnp="2001:db8:a:3::/64"))  # replaced: the old prefix goes
    assert cache.lookup(A("2001:db8:a:2::10")) is None and cache.lookup(A("2001:db8:a:3::1")).mn_id == "mn2"
    assert cache.delete("mn1").mn_id == "mn1" and len(cache) == 1
