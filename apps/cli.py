"""``epmip`` command line.

epmip check-config FILE      validate a domain file; one-line error and exit 2 if invalid
epmip demo [--config FILE]   OVS + controller + Mininet reference topology, traffic, report
epmip bench ...              benchmarks (benchmarks/)
"""

from __future__ import annotations

import argparse
import sys

from controller.config import ConfigError, load_domain


def check_config(path: str) -> int:
    try:
        domain = load_domain(path)
    except ConfigError as exc:
        print(f"{path}: error: {exc}", file=sys.stderr)
        return 2
    roles: dict[str, int] = {}
    for sw in domain.switches.values():
        roles[sw.role] = roles.get(sw.role, 0) + 1
    summary = ", ".join(f"{n} {r}" for r, n in sorted(roles.items()))
    print(
        f"{path}: ok: domain {domain.name!r}, mode {domain.mode}, "
        f"{'deployment lma_daf (§7), ' if domain.deployment == 'lma_daf' else ''}{len(domain.switches)} switches "
        f"({summary}), {len(domain.links)} links, {len(domain.mobile_nodes)} mobile nodes, "
        f"{len(domain.fixed_nodes)} fixed nodes, store {_store_text(domain)}"
    )
    for inst in domain.controllers:
        print(f"  controller {inst.name} at [{inst.address}]:{inst.port} serves {', '.join(inst.switches)}")
    return 0


def _store_text(domain) -> str:
    st = domain.store
    if st.kind == "sqlite":
        return f"sqlite {st.path} (synchronous={st.synchronous})"
    if st.kind == "redis":
        return f"redis {st.url} (prefix {st.prefix})"
    return "none (state is lost on restart)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="epmip", description="enhanced Proxy Mobile IPv6 on Ryu")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check-config", help="validate a domain file")
    p.add_argument("file")
    p = sub.add_parser("demo", help="run the reference demo (root; starts OVS, controller, Mininet)")
    p.add_argument(
        "--config", "--domain", dest="config", default=None,
        help="domain file (default: examples/domain.yaml; examples/domain-alt.yaml is the §7 deployment)",
    )  # fmt: skip
    p.add_argument("--keep-logs", default=None, help="directory for controller logs")
    bench = sub.add_parser("bench", help="benchmarks (control-plane is in-process; the others need root, OVS, Mininet)")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    p = bench_sub.add_parser("handoff", help="loss and interruption of a UDP stream across handoffs")
    p.add_argument("--moves", type=int, default=5, help="handoffs of mn1 (default: 5)")
    p.add_argument("--rate", type=float, default=100.0, help="packets/s each way (default: 100)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between moves (default: 2)")
    p.add_argument("--config", default=None, help="domain file (default: examples/domain.yaml)")
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    p.add_argument("--mode", choices=["epmip", "pmip", "lr"], default=None, help="override the domain's mode")
    p.add_argument(
        "--buffer", choices=["off", "reactive", "predictive"], default=None,
        help="handoff buffering (predictive: a link-going-down hint before each move)",
    )  # fmt: skip
    p = bench_sub.add_parser("discovery", help="the three LMF discovery methods (§4.4) side by side")
    p.add_argument("--config", default=None, help="domain file (default: examples/domain.yaml)")
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    p = bench_sub.add_parser(
        "compare", help="epmip vs lr vs pmip vs the §7 deployment: routes, handoffs, LMA load; table, Markdown, PNGs"
    )
    p.add_argument(
        "--controllers", default=None, metavar="1,3",
        help="instead: the same handoffs between two eLMA regions with the domain in 1 and in N controller "
        "instances (one per (e)LMA), side by side",
    )  # fmt: skip
    p.add_argument("--moves", type=int, default=10, help="handoffs per run (default: 10)")
    p.add_argument("--rate", type=float, default=500.0, help="packets/s each way in the handoff runs (default: 500)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between moves (default: 2)")
    p.add_argument("--out", default=None, help="directory for compare.md, compare.json, PNGs (default: docs/results)")
    p.add_argument(
        "--only", default="", help="only these columns' modes, comma-separated (e.g. lma_daf: the §7 deployment)"
    )
    p.add_argument("--config", default=None, help="domain file (default: examples/domain.yaml)")
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    p = bench_sub.add_parser(
        "soak", help="K MNs on a seeded random walk under UDP streams: loss outside link-layer gaps, paths, flows, HoAs"
    )
    p.add_argument("--moves", type=int, default=40, help="moves in the walk (default: 40)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between moves (default: 1)")
    p.add_argument("--rate", type=float, default=200.0, help="packets/s each way per stream (default: 200)")
    p.add_argument("--mns", type=int, default=12, help="mobile nodes, at least 12 (default: 12)")
    p.add_argument("--seed", type=int, default=1, help="seed of the walk (default: 1)")
    p.add_argument(
        "--buffer", choices=["off", "reactive", "predictive"], default="predictive",
        help="handoff buffering (default: predictive, a link-going-down hint before each move)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    p = bench_sub.add_parser(
        "control-plane", help="registrations, route set-ups, handoffs per second and memory per binding (in-process)"
    )
    p.add_argument("--sizes", default=None, help="numbers of mobile nodes (default: 10000,100000,1000000)")
    p.add_argument("--quick", action="store_true", help="small sizes (1000,5000), samples and time budgets")
    p.add_argument(
        "--budget", type=float, default=None, help="seconds per timed phase and size (default: 3, --quick: 0.5)"
    )
    p.add_argument("--max-full", type=int, default=100_000, help="register all MNs up to this size (default: 100000)")
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    p.add_argument("--before", default=None, help="an earlier run's --json output: print the figures side by side")
    p = bench_sub.add_parser(
        "instructions", help="CPU instructions per route set-up and per registration (cachegrind; needs valgrind)"
    )
    p.add_argument("--mns", type=int, default=3000, help="mobile nodes in the generated domain (default: 3000)")
    p.add_argument("--events", type=int, default=600, help="events counted per kind (default: 600)")
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    p = bench_sub.add_parser(
        "load", help="attach events, route set-ups, handoffs over real OpenFlow sockets; simple_switch_13 as reference"
    )
    p.add_argument("--mns", type=int, default=20_000, help="mobile nodes in the generated domain (default: 20000)")
    p.add_argument("--routes", type=int, default=20_000, help="route set-ups in the saturating phase (default: 20000)")
    p.add_argument("--handoffs", type=int, default=3_000, help="handoffs (default: 3000)")
    p.add_argument("--rate", type=float, default=0.0, help="target events/s (default: 0, as fast as it keeps up)")
    p.add_argument("--window", type=int, default=64, help="events in flight at most when saturating (default: 64)")
    p.add_argument("--latency-seconds", type=float, default=3.0, help="length of the half-rate phase (default: 3)")
    p.add_argument("--no-profile", action="store_true", help="skip the profiled pass")
    p.add_argument("--logs", default=None, help="keep the domain file, controller logs and profile in this directory")
    p.add_argument("--store", action="store_true", help="the controller writes its state to SQLite (default: no store)")
    p.add_argument("--json", action="store_true", help="print only one JSON object on stdout")
    p.add_argument("--before", default=None, help="an earlier run's --json output: print the figures side by side")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        return check_config(args.file)
    if args.command == "demo":
        from mininet_topos.demo import run_demo

        return run_demo(args.config, args.keep_logs)
    if args.command == "bench" and args.bench == "handoff":
        from benchmarks.handoff import run

        return run(
            args.moves, args.rate, args.json, config=args.config, duration_per_move=args.interval,
            mode=args.mode, buffer=args.buffer,
        )  # fmt: skip
    if args.command == "bench" and args.bench == "discovery":
        from benchmarks.discovery import run as run_discovery

        return run_discovery(args.json, config=args.config)
    if args.command == "bench" and args.bench == "compare":
        from benchmarks import compare

        if args.controllers:
            return compare.run_controllers(args.controllers, args.moves, args.rate, args.json, out_dir=args.out,
                                           config=args.config, interval=args.interval)  # fmt: skip
        only = [m for m in args.only.split(",") if m]  # none: every column
        return compare.run(args.moves, args.rate, args.json, out_dir=args.out, config=args.config,
                           interval=args.interval, only=only)  # fmt: skip
    if args.command == "bench" and args.bench == "soak":
        from benchmarks.soak import run as run_soak

        return run_soak(args.moves, args.interval, args.rate, args.mns, args.seed, args.json, buffer=args.buffer)
    if args.command == "bench" and args.bench == "control-plane":
        from benchmarks.control_plane import parse_sizes
        from benchmarks.control_plane import run as run_control_plane

        try:
            sizes = parse_sizes(args.sizes) if args.sizes else None
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))
        return run_control_plane(
            args.json, sizes, quick=args.quick, budget=args.budget, max_full=args.max_full, before=args.before
        )
    if args.command == "bench" and args.bench == "instructions":
        from benchmarks.instructions import run as run_instructions

        return run_instructions(args.mns, args.events, args.json)
    if args.command == "bench" and args.bench == "load":
        from benchmarks.load import run as run_load

        return run_load(
            args.mns, args.routes, args.handoffs, args.rate, args.window, args.latency_seconds,
            profile=not args.no_profile, as_json=args.json, logs=args.logs, store=args.store, before=args.before,
        )  # fmt: skip
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
