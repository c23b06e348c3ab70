"""``epmip-manager``: a drop-in for ``ryu-manager`` (same arguments) that applies the eventlet
compatibility fix (apps/compat.py) and registers epmip's own options, e.g.::

    epmip-manager --epmip-config examples/domain.yaml apps/epmip_app.py ryu.app.ofctl_rest

Unlike ryu-manager, whose REST server listens on every address (0.0.0.0), epmip-manager listens on
127.0.0.1 unless ``--wsapi-host`` (or ``wsapi_host`` in a --config-file) says otherwise: the REST
API's reads are open to whoever reaches the port (docs/rest-security.md).
"""

from __future__ import annotations

import sys

from apps import compat

EPMIP_OPTS_REGISTERED = False
DEFAULT_WSAPI_HOST = "127.0.0.1"


def register_options() -> None:
    global EPMIP_OPTS_REGISTERED
    if EPMIP_OPTS_REGISTERED:
        return
    from oslo_config.cfg import DuplicateOptError
    from ryu import cfg

    try:
        cfg.CONF.register_cli_opts(
            [
                cfg.StrOpt("epmip-config", default=None, help="epmip domain file (YAML)"),
                cfg.FloatOpt("epmip-tick", default=0.2, help="epmip timer resolution, seconds"),
                cfg.StrOpt(
                    "epmip-instance",
                    default=None,
                    help="with a controllers: section in the domain file: the instance this process is; it "
                    "serves that instance's switches and signals with the others over UDP",
                ),
                cfg.StrOpt(
                    "epmip-signalling-pcap",
                    default=None,
                    help="write every signalling message into this pcap file, as IPv6 Mobility Headers "
                    "(docs/signalling-wire.md); Wireshark and tshark read it",
                ),
                cfg.BoolOpt(
                    "epmip-reset-state",
                    default=False,
                    help="forget the state kept in the domain file's store (bindings, ...) instead of restoring it",
                ),  # fmt: skip
            ]
        )
    except DuplicateOptError:  # registered already in this process (ryu.cfg does not re-export it)
        pass
    EPMIP_OPTS_REGISTERED = True


def default_wsapi_host(host: str = DEFAULT_WSAPI_HOST) -> None:
    """Make ``host`` the default of Ryu's --wsapi-host (registered by ryu.app.wsgi).  A default,
    not an argument: --wsapi-host on the command line or in a config file still wins.  Before the
    arguments are parsed, the option is registered anew so that --help tells the new default
    (Ryu's help text says 0.0.0.0); after, only its default changes."""
    import oslo_config.cfg as oslo_cfg  # here, not at the top: after hub.patch in main()
    from ryu import cfg
    from ryu.app import wsgi  # registers wsapi-host

    opt = cfg.StrOpt(
        "wsapi-host",
        default=host,
        help=f"webapp listen host (epmip-manager's default {host}; ryu-manager's {wsgi.DEFAULT_WSGI_HOST})",
    )
    try:
        cfg.CONF.unregister_opt(opt)  # by name: Ryu's own wsapi-host
        cfg.CONF.register_cli_opt(opt)
    except oslo_cfg.ArgsAlreadyParsedError:
        cfg.CONF.set_default("wsapi_host", host)


def main(argv: list[str] | None = None) -> None:
    compat.apply()
    # Patch before ryu.cfg/oslo create any lock (ryu.cmd.manager patches too, but after our
    # options are registered - eventlet would then warn about locks it could not green).
    from ryu.lib import hub

    hub.patch(thread=False)
    register_options()
    default_wsapi_host()
    from ryu.cmd import manager

    manager.main(args=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
