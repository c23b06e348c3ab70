"""Compatibility fix that lets Ryu 4.34 run with an eventlet that runs on Python 3.11.

Ryu 4.34 (the last release) does ``from eventlet.wsgi import ALREADY_HANDLED`` in
``ryu/app/wsgi.py``.  eventlet removed that constant (it was a sentinel a WSGI app returned after
taking over the socket, used by Ryu only for WebSocket upgrades), and the eventlet releases that
still have it do not run on Python 3.11.  Defining the sentinel before Ryu is imported is enough
for Ryu to start and serve REST; WebSocket endpoints are not used by epmip.

eventlet also warns at import that it is in bug-fix-only mode; Ryu still needs it, so that one
warning is silenced here rather than shown to every user.

Call ``apply()`` before importing anything from ``ryu.app`` or ``ryu.cmd``.
"""

from __future__ import annotations

import warnings

_SENTINEL_NAME = "ALREADY_HANDLED"


def apply() -> None:
    warnings.filterwarnings("ignore", message=r".*[Ee]ventlet.*", category=DeprecationWarning)
    # eventlet's own notice is an EventletDeprecationWarning (a plain Warning subclass) whose text
    # starts with a newline, so the filter above (``.`` stops at newlines) does not catch it.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
    import eventlet.wsgi

    if not hasattr(eventlet.wsgi, _SENTINEL_NAME):
        setattr(eventlet.wsgi, _SENTINEL_NAME, object())
