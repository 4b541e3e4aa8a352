"""The shape of the code (ARCHITECTURE.md): no import cycles, small modules, layers that point
inward, and a command that uses public names only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vibe_aigc"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every vibe_aigc module ``path`` imports, at the top or lazily inside functions (imports
    under ``if TYPE_CHECKING:`` are annotations, not imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_block(node):
            skipped.update(id(n) for n in ast.walk(node))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule; pkg itself only for other names
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != me and not me.startswith(name + "."):
                found.add(name)  # (a module's own package is initialised before it anyway)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges = {name: imports_of(path, known) for name, path in mods.items()}
    # importing a.b.c also runs a/__init__ and a/b/__init__
    for name in list(edges):
        for target in list(edges[name]):
            parts = target.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if parent in known and parent != name and not name.startswith(parent + "."):
                    edges[name].add(parent)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles_including_lazy_imports() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_over_500_lines() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_layers_point_inward() -> None:
    edges = graph()
    inner = [
        "vibe_aigc.errors",
        "vibe_aigc.models",
        "vibe_aigc.lean",
        "vibe_aigc.results",
        "vibe_aigc.jsondata",
        "vibe_aigc.bulk",
    ]
    for name in inner:
        outward = {t for t in edges[name] if t not in inner and t != "vibe_aigc"}
        assert not outward, f"{name} imports {outward}"
    for name, targets in edges.items():
        if name.startswith("vibe_aigc.executor"):
            stores = {
                t for t in targets if t.startswith(("vibe_aigc.persistence", "vibe_aigc.runs"))
            }
            assert not stores, f"the scheduler imports no store: {name} -> {stores}"
        if name.startswith("vibe_aigc.persistence"):
            above = {t for t in targets if t.startswith(("vibe_aigc.runs", "vibe_aigc.planner"))}
            assert not above, f"{name} -> {above}"
        if not name.startswith(("vibe_aigc.cli", "vibe_aigc.ui")):
            ui = {t for t in targets if t.startswith(("vibe_aigc.cli", "vibe_aigc.ui"))}
            assert not ui, f"nothing imports the command or the web app: {name} -> {ui}"


def test_the_command_imports_public_names_only() -> None:
    for path in (SRC / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vibe_aigc"):
                module = node.module or ""
                assert not any(p.startswith("_") for p in module.split(".")), (path, module)
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    assert not private, (path, module, alias.name)


def test_nothing_reaches_into_another_objects_private_members() -> None:
    """``x._member`` is allowed on ``self``/``cls`` only (and on a module's own names)."""
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id not in ("self", "cls", "os", "sys", "asyncio")
            ):
                offenders.append(f"{name}: {node.value.id}.{node.attr}")
    assert not offenders, offenders


def test_importing_the_library_does_not_import_httpx() -> None:
    """httpx (with rich and pygments behind it) is imported where a request is made: a run
    that never calls a model does not carry it (issue 15: 8 MB and 40 ms at every start)."""
    code = "import sys, vibe_aigc; print(sorted({'httpx', 'rich'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout
