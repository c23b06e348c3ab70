"""The architecture rules of controller/, checked on the source (ast), so that they cannot rot:

* no import cycle inside ``controller/`` (also not through ``TYPE_CHECKING`` imports);
* the draft's entity modules never import the composition (``core``, ``nodes``);
* no module reaches into another object's private attribute (``x._y`` with ``x`` not
  ``self``/``cls``): an entity learns about another only from messages or its own view;
* no module-level mutable state in ``controller/`` (every module-level name bound to a value is
  an UPPER_CASE constant of an immutable kind, a logger, a type alias or a class/function), so
  two entities cannot share state through a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"
ENTITIES = {"lmf", "lma", "mag", "drf", "dmf", "ar", "lr", "buffer", "elma_drf", "location", "border", "ring"}
COMPOSITION = {"core", "nodes"}
IMMUTABLE_CALLS = {
    "frozenset",
    "tuple",
    "MappingProxyType",
    "getLogger",
    "TypeVar",
    "compile",
    "Struct",
    "IPv6Address",
    "IPv6Network",
}


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(CONTROLLER.glob("*.py"))}


def _controller_imports(tree: ast.Module) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "controller":
                out.update(a.name for a in node.names)
            elif node.module.startswith("controller."):
                out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("controller."))
    return out


def test_no_import_cycle_in_controller():
    graph = {name: _controller_imports(tree) & set(_modules()) for name, tree in _modules().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError(f"import cycle in controller/: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_entity_modules_do_not_import_the_composition():
    for name, tree in _modules().items():
        if name in ENTITIES:
            bad = _controller_imports(tree) & COMPOSITION
            assert not bad, f"controller/{name}.py imports {sorted(bad)}: entities must not see the composition root"


def test_no_private_attribute_of_another_object_is_touched():
    found = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and ast.unparse(owner) == "super()":
                continue  # the same object, through its base class
            found.append(f"controller/{name}.py:{node.lineno}: .{node.attr} of {ast.unparse(owner)}")
    assert not found, "private attributes reached from outside their object:\n" + "\n".join(found)


def _immutable(value: ast.expr) -> bool:
    if isinstance(value, ast.Constant):
        return True
    if isinstance(value, (ast.Tuple,)):
        return all(_immutable(e) for e in value.elts)
    if isinstance(value, ast.UnaryOp):
        return _immutable(value.operand)
    if isinstance(value, ast.BinOp):
        return _immutable(value.left) and _immutable(value.right)
    if isinstance(value, ast.Call):
        func = ast.unparse(value.func)
        return func.split(".")[-1] in IMMUTABLE_CALLS or func in IMMUTABLE_CALLS
    if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)):
        return True  # an alias of a class, enum member, constant or type (e.g. Net = ipaddress.IPv6Network)
    return False


def test_no_module_level_mutable_state():
    found = []
    for name, tree in _modules().items():
        for stmt in tree.body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            for target in targets:
                label = ast.unparse(target)
                if label == "__all__":
                    continue
                if value is None or not _immutable(value):
                    found.append(f"controller/{name}.py:{stmt.lineno}: {label} = {ast.unparse(value)[:60]}")
                elif not (label.isupper() or label in ("LOG",) or label[0].isupper()):
                    found.append(f"controller/{name}.py:{stmt.lineno}: {label} is module-level state, not a constant")
    assert not found, "module-level mutable state in controller/:\n" + "\n".join(found)
