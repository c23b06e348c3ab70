"""The narrow interfaces between the parts of one node.

A DRF (``controller/drf.py``) serves the local endpoints of whatever node it is part of: mobile
nodes attached to an eMAG (``mag.Attachment``) or fixed hosts behind an access router
(``ar.FixedHost``).  It sees them only through these Protocols, never through the MAG's or the
router's objects; a DMF (``controller/dmf.py``) asks its node to let an MN go through ``Departures``.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

from controller.effects import Effects


class Endpoint(Protocol):
    """A local endpoint as a DRF sees it."""

    @property
    def key(self) -> str:
        """The MN-Identifier, or the fixed host's name."""

    @property
    def hnps(self) -> list[ipaddress.IPv6Network]:
        """Its prefixes (an MN's HNPs; a fixed host's /128)."""

    @property
    def daf(self) -> bool:
        """Whether the DRF handles its traffic (DAF enabled for it)."""

    @property
    def lma(self) -> str | None:
        """The (e)LMA it is registered with; None: no LMA, the fallback is plain routing."""


class Endpoints(Protocol):
    def endpoint(self, key: str) -> Endpoint | None:
        """The endpoint ``key`` if it is attached here now."""

    def obj_of(self, key: str) -> int:
        """Its number in this switch's flow cookies."""

    def key_for_prefix(self, prefix: ipaddress.IPv6Network) -> str | None:
        """The local endpoint whose prefix (HNP, or a fixed host's /128) lies in ``prefix``."""


class Departures(Protocol):
    def leave(self, key: str, now: float) -> Effects:
        """A PBCI says the MN is attached elsewhere: let it go here without de-registering."""


class BindingHooks(Protocol):
    """What an eLMA(DRF)'s DAF (draft §7.2) is told by the co-located LMA registration: the MN's
    binding here, by MN-Identifier and HNPs (``controller/elma_drf.py`` implements it)."""

    def on_registered(self, mn_id: str, hnps: list[ipaddress.IPv6Network], lifetime: float, timestamp: float,
                      fresh: bool, now: float) -> Effects:  # fmt: skip
        """A PBU was accepted (``fresh``: the MN was not bound here before, or came back)."""

    def on_deregistered(self, mn_id: str, now: float) -> Effects:
        """The MAG de-registered the MN (it left that MAG)."""

    def on_deleted(self, mn_id: str, hnps: list[ipaddress.IPv6Network], timestamp: float, now: float) -> Effects:
        """The binding is gone (expired, or MinDelayBeforeBCEDelete after a de-registration)."""
