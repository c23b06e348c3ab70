"""``epmip-manager``: a drop-in for ``ryu-manager`` (same arguments) that applies the eventlet
compatibility fix (apps/compat.py) and registers epmip's own options, e.g.::

    epmip-manager --epmip-config examples/domain.yaml apps/epmip_app.py ryu.app.ofctl_rest
"""

from __future__ import annotations

import sys

from apps import compat

EPMIP_OPTS_REGISTERED = False


def register_options() -> None:
    global EPMIP_OPTS_REGISTERED
    if EPMIP_OPTS_REGISTERED:
        return
    from ryu import cfg

    try:
        cfg.CONF.register_cli_opts(
            [
                cfg.StrOpt("epmip-config", default=None, help="epmip domain file (YAML)"),
                cfg.FloatOpt("epmip-tick", default=0.2, help="epmip timer resolution, seconds"),
            ]
        )
    except cfg.DuplicateOptError:
        pass
    EPMIP_OPTS_REGISTERED = True


def main(argv: list[str] | None = None) -> None:
    compat.apply()
    # Patch before ryu.cfg/oslo create any lock (ryu.cmd.manager patches too, but after our
    # options are registered - eventlet would then warn about locks it could not green).
    from ryu.lib import hub

    hub.patch(thread=False)
    register_options()
    from ryu.cmd import manager

    manager.main(args=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
