"""The package's layout (docs/architecture.md): four rooms behind public faces, a
shared core, and shapes in the signatures."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re

import pytest

import quests_jax

PACKAGE = pathlib.Path(quests_jax.__file__).parent
ROOMS = ("describe", "information", "tools", "forces")
FACES = (
    "quests_jax",
    "quests_jax.describe",
    "quests_jax.information",
    "quests_jax.information.execution",
    "quests_jax.information.sharded",
    "quests_jax.tools",
    "quests_jax.tools.plots",
    "quests_jax.forces",
    "quests_jax.forces.jaxmd",
    "quests_jax.forces.metadynamics",
    "quests_jax.compilation",
)


def _room(module: str) -> str:
    """The room (or 'cli', 'compat', 'core', 'top') a dotted module name lives in."""
    parts = module.split(".")
    if len(parts) < 2:
        return "top"
    if parts[1] == "_core":
        return "core"
    return parts[1] if parts[1] in (*ROOMS, "cli", "compat") else "top"


def _imports(path: pathlib.Path):
    """(importing module, imported module, names) of every import in a source file."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = module if rel.name == "__init__" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            if target.startswith("quests_jax"):
                yield module, target, names
                for name in names:  # `from . import _engine` imports a module
                    yield module, f"{target}.{name}", []


def test_no_module_imports_another_rooms_private_names():
    crossings = []
    for path in PACKAGE.rglob("*.py"):
        for module, target, names in _imports(path):
            if _room(module) == _room(target) or _room(target) == "core":
                continue
            private_module = any(p.startswith("_") for p in target.split(".")[2:])
            private_names = [n for n in names if n.startswith("_") and n != "__version__"]
            if private_module or private_names:
                crossings.append(f"{module} -> {target} {private_names or ''}")
    assert not crossings, "\n".join(crossings)


def test_the_shared_core_imports_no_room():
    for path in (PACKAGE / "_core").glob("*.py"):
        for module, target, _ in _imports(path):
            assert _room(target) == "core", f"{module} imports {target}"


def test_the_rooms_are_layered():
    """describe needs only the core; information needs describe (not tools, forces);
    tools and forces build on both, never on the command line or compat."""
    allowed = {
        "describe": {"core", "describe"},
        "information": {"core", "describe", "information"},
        "tools": {"core", "describe", "information", "tools"},
        "forces": {"core", "describe", "information", "forces"},
    }
    for room, ok in allowed.items():
        for path in (PACKAGE / room).glob("*.py"):
            for module, target, _ in _imports(path):
                assert _room(target) in ok, f"{module} imports {target}"


def test_no_flat_module_paths_of_the_unreleased_0_1():
    """The flat paths of the unreleased 0.1 (quests_jax.kernels, ...) are gone with
    their import hook (CHANGELOG.md): one path per module."""
    for old in ("kernels", "jaxmd", "generation", "compression", "engine"):
        with pytest.raises(ImportError):
            importlib.import_module(f"quests_jax.{old}")


@pytest.mark.parametrize("face", FACES)
def test_every_name_a_face_exports_resolves(face):
    module = importlib.import_module(face)
    assert hasattr(module, "__all__"), face
    for name in module.__all__:
        assert getattr(module, name) is not None, (face, name)


def _exported_callables():
    seen = {}
    for face in FACES:
        module = importlib.import_module(face)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            key = (getattr(obj, "__module__", face), getattr(obj, "__qualname__", name))
            seen.setdefault(key, obj)
    return seen


def _parameters(obj):
    """(name, annotation or None) of the parameters a user passes."""
    fields = getattr(obj, "__dataclass_fields__", None)
    if inspect.isclass(obj) and fields:  # dataclasses and equinox modules: their fields
        return [(n, f.type) for n, f in fields.items() if f.init]
    function = obj.__init__ if inspect.isclass(obj) else obj
    out = []
    for p in inspect.signature(function).parameters.values():
        if p.name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append((p.name, None if p.annotation is inspect.Parameter.empty else p.annotation))
    return out


def test_exported_functions_are_annotated_with_shapes():
    """>= 90% of the exported functions' parameters carry a type; an array parameter
    carries its shape (a jaxtyping type or an alias of quests_jax._core.array_types)."""
    total = annotated = 0
    shapeless = []
    for (module, qualname), obj in _exported_callables().items():
        for name, annotation in _parameters(obj):
            total += 1
            if annotation is None:
                continue
            annotated += 1
            text = annotation if isinstance(annotation, str) else repr(annotation)
            bare = text  # without brackets: Float[Array, "n d"], Callable[[Array], Array]
            while re.search(r"\[[^\[\]]*\]", bare):
                bare = re.sub(r"\[[^\[\]]*\]", "", bare)
            if re.search(r"\b(ndarray|Array|ArrayLike|AnyArray)\b", bare):
                shapeless.append(f"{module}.{qualname}({name}: {text})")
    assert total > 400
    assert annotated / total >= 0.9, f"{annotated} of {total} parameters annotated"
    assert not shapeless, "array parameters without shapes:\n" + "\n".join(shapeless)


def test_the_type_checker_sees_every_import_of_ours():
    """Issue 30: a global `ignore_missing_imports` let seven modules import their shape
    types from `._core.array_types` (a path that does not exist) as Any. The allowance
    is scoped to third-party packages without type information; mypy (in the README's
    test command) then fails on any unresolved import of ours."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["mypy"]
    assert "ignore_missing_imports" not in config
    for override in config.get("overrides", []):
        modules = override["module"]
        assert not any(m == "quests_jax" or m.startswith("quests_jax.") for m in modules)


def test_no_module_imports_itself_through_others():
    """No circle of imports between the package's modules (imports inside functions
    included; a package's __init__, which gathers its modules, is not a step). The
    last one, information._quantities <-> sharded through shared private helpers, went
    when the helpers moved to information._arguments (issue 30)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        for module, target, _ in _imports(path):
            modules.setdefault(module, set()).add(target)
    packages = {
        m for m in modules if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()
    }
    graph = {
        m: {t for t in targets if t in modules and t not in packages and t != m}
        for m, targets in modules.items()
        if m not in packages
    }
    circles = []

    def visit(module, path, seen):
        for target in graph.get(module, ()):
            if target == path[0]:
                circles.append(" -> ".join([*path, target]))
            elif target not in seen and target > path[0]:  # each circle once
                seen.add(target)
                visit(target, [*path, target], seen)
                seen.discard(target)

    for start in sorted(graph):
        visit(start, [start], {start})
    assert circles == []


TEST_ROOMS = ("core", "describe", "information", "tools", "forces", "cli", "compat", "package")


def test_the_tests_mirror_the_rooms():
    """Every test file sits in the folder of the room it tests (package/: the package
    as a whole); the top of tests/ holds only shared helpers, and every room of the
    package has its folder."""
    tests = pathlib.Path(__file__).resolve().parents[1]
    misplaced = [
        str(p.relative_to(tests))
        for p in tests.rglob("test_*.py")
        if p.parent == tests or p.parent.name not in TEST_ROOMS
    ]
    assert misplaced == []
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert {r.lstrip("_") for r in rooms} <= set(TEST_ROOMS), rooms
