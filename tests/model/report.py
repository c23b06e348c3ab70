"""What a failure prints: the seed, the minimal sequence, what broke with the packet trace, and the
domain - enough to replay it (``python -m model --replay SEED 'ev; ev; ...'`` from tests/, or
``model.runner.run(SEED, [parse_event(...), ...])``)."""

from __future__ import annotations

from model.runner import Result, domain

MAX_VIOLATIONS = 3


def describe(result: Result, title: str = "", with_domain: bool = True) -> str:
    assert result.step is not None
    where = (
        "at the end (every MN left, timers run out)"
        if result.step >= len(result.events)
        else (f"after event {result.step + 1}")
    )
    lines = [f"{title or 'model test'}: seed {result.seed}, broke {result.violations[0].invariant} {where}"]
    lines.append(f"  events ({len(result.events)}):")
    for i, (event, tags) in enumerate(zip(result.events, result.tags, strict=True), 1):
        lines.append(f"    {i:2}. {event.text():<48} {' '.join(sorted(tags))}")
    lines.append(f"  replay: python -m model --replay {result.seed} {replay_arg(result)!r}   (from tests/)")
    lines.append("  what broke:")
    for v in result.violations[:MAX_VIOLATIONS]:
        lines += ["    " + line for line in v.describe().splitlines()]
    if len(result.violations) > MAX_VIOLATIONS:
        lines.append(f"    ... and {len(result.violations) - MAX_VIOLATIONS} more")
    if with_domain:
        lines.append(f"  domain of seed {result.seed}:")
        lines += ["    " + line for line in domain(result.seed).yaml.splitlines()]
    return "\n".join(lines)


def replay_arg(result: Result) -> str:
    return "; ".join(e.text() for e in result.events)
