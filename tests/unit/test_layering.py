"""The layering rule: ``controller/`` is the framework-free core.  It imports neither Ryu nor the
packages built on top of it (``apps``, ``mininet_topos``, ``benchmarks``), so the core runs and is
tested without an OpenFlow framework, a switch or Mininet.

Every module is read with ``ast``: top-level and function-level imports alike, relative imports
resolved, and ``importlib.import_module``/``__import__`` with a literal name.  A second test imports
the whole package in a fresh interpreter, which also catches a forbidden package pulled in through
something ``controller/`` may import (e.g. ``openflow_rules``)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER = ROOT / "controller"
FORBIDDEN = ("ryu", "mininet_topos", "benchmarks", "apps")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name ``from <level dots><target> import ...`` refers to inside ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def forbidden_imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, description) of every import in ``source`` of a package in FORBIDDEN."""

    def banned(name: str) -> bool:
        return name.split(".")[0] in FORBIDDEN

    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if banned(a.name)]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            names = ", ".join(a.name for a in node.names)
            text = f"from {'.' * node.level}{node.module or ''} import {names}"
            if banned(target):
                found.append((node.lineno, text))
            elif target == "":  # "from .. import apps" at the top of the tree
                found += [(node.lineno, text) for a in node.names if banned(a.name)]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            arg = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(arg, str) and banned(arg):
                found.append((node.lineno, f"{name}({arg!r})"))
    return sorted(found)


def test_controller_imports_no_framework_or_tooling_package():
    paths = sorted(CONTROLLER.rglob("*.py"))
    assert len(paths) > 10, f"controller/ not found under {ROOT}"
    violations = []
    for path in paths:
        module = _module_name(path)
        for line, text in forbidden_imports(path.read_text(), module, path.name == "__init__.py"):
            violations.append(f"{path.relative_to(ROOT)}:{line}: {module} does `{text}`")
    assert not violations, "controller/ must import none of {}:\n  {}".format(
        ", ".join(FORBIDDEN), "\n  ".join(violations)
    )


def test_importing_every_controller_module_loads_no_forbidden_package():
    code = (
        "import importlib, pkgutil, sys, controller\n"
        "for m in pkgutil.walk_packages(controller.__path__, 'controller.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(' '.join(sorted({{n.split('.')[0] for n in sys.modules}} & set({FORBIDDEN!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [], f"importing controller/ loaded {out.stdout.strip()}"


# ------------------------------------------------------------------ the checker itself

CAUGHT = {
    "top-level": ("import ryu\n", "import ryu"),
    "submodule": ("import ryu.lib.packet as p\n", "import ryu.lib.packet"),
    "from": ("from ryu.lib.packet import ethernet, ipv6\n", "from ryu.lib.packet import ethernet, ipv6"),
    "function-level": ("def f():\n    from mininet_topos.demo import run_demo\n", "from mininet_topos.demo import"),
    "nested-in-try": ("try:\n    import benchmarks.compare\nexcept ImportError:\n    pass\n", "import benchmarks"),
    "type-checking": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from apps import cli\n", "from apps"),
    "several-names": ("import os, apps.launcher\n", "import apps.launcher"),
    "relative-up": ("from ..apps import cli\n", "from ..apps import cli"),
    "relative-top": ("from .. import benchmarks\n", "from .. import benchmarks"),
    "importlib": ("import importlib\nimportlib.import_module('ryu.app.wsgi')\n", "import_module('ryu.app.wsgi')"),
    "dunder-import": ("__import__('mininet_topos')\n", "__import__('mininet_topos')"),
}
ALLOWED = [
    "import struct\nfrom controller import ndp\nfrom openflow_rules.intents import FlowMod\n",
    "from . import hbh\nfrom .config import Domain\n",
    "import ryuk\nimport appsx\nfrom benchmarking import x\n",  # a prefix is not the package
    "x = 'import ryu'\n",
]


@pytest.mark.parametrize("source,expected", list(CAUGHT.values()), ids=list(CAUGHT))
def test_checker_catches(source, expected):
    found = forbidden_imports(source, "controller.some_module")
    assert len(found) == 1 and expected in found[0][1], found


@pytest.mark.parametrize("source", ALLOWED)
def test_checker_allows(source):
    assert forbidden_imports(source, "controller.some_module") == []


def test_checker_resolves_relative_imports_from_a_package_init():
    assert forbidden_imports("from . import ndp\n", "controller", is_package=True) == []
    assert forbidden_imports("from .. import apps\n", "controller", is_package=True) != []
