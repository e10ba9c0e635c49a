"""The package's shape: layers that import only downwards, private modules, small functions.

Each folder of ``core/mediatask`` is a layer (its ``__init__`` says what it owns); a module may
import from its own layer and the ones below it, never above. What looks public is public: a
module outside the documented faces (``mediatask``, ``mediatask.plugin``, ``mediatask.emulator``,
``mediatask.testing``) is underscored or inside a folder whose docstring says it is private.
No function is longer than 40 lines or more complex than 10 (radon's cyclomatic complexity)
unless docs/architecture.md names it, with its reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "core" / "mediatask"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

LAYERS: dict[str, int] = {
    "_moved": 0,
    "model": 0,
    "http": 1,
    "settings": 1,
    "emulator": 1,
    "providers": 2,
    "journal": 3,
    "engine": 4,
    "batch": 5,
    "_api": 6,
    "plugin": 6,
    "testing": 6,
    "cli": 7,
    "__main__": 8,
    "__init__": 8,
}
"""Each top-level entry of the package and its layer: it may import its own and lower layers."""

PUBLIC_FACES = {
    "mediatask",
    "mediatask.plugin",
    "mediatask.emulator",
    "mediatask.emulator.media",
    "mediatask.testing",
}
MAX_LINES = 40
MAX_COMPLEXITY = 10


def modules() -> list[tuple[str, Path]]:
    """Every module of the package: dotted name and file."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def layer_of(module: str) -> str:
    """The top-level entry a dotted module name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported(module: str, path: Path) -> set[str]:
    """The mediatask modules ``path`` imports, anywhere in it (function-level imports too)."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            if base == "mediatask":
                names.update(f"mediatask.{alias.name}" for alias in node.names)
            elif base.startswith("mediatask."):
                names.add(base)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("mediatask."))
    return names


def test_every_top_level_entry_has_a_layer() -> None:
    entries = {
        p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert entries == set(LAYERS)


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for module, path in modules():
        own = LAYERS[layer_of(module)]
        for name in sorted(imported(module, path)):
            if LAYERS[layer_of(name)] > own:
                upward.append(f"{module} imports {name}")
    assert upward == []


def test_the_layer_test_sees_an_upward_import(tmp_path: Path) -> None:
    path = tmp_path / "fake.py"
    path.write_text("def late():\n    from mediatask.batch.runner import Batch\n")
    assert imported("mediatask.journal.fake", path) == {"mediatask.batch.runner"}
    assert LAYERS[layer_of("mediatask.batch.runner")] > LAYERS[layer_of("mediatask.journal.fake")]


def private_folders() -> set[str]:
    """The folders whose docstring says their modules are private."""
    private = set()
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if "Private" in doc or "private" in doc:
            private.add(init.parent.name)
    return private


def test_nothing_looks_public_that_is_not() -> None:
    private = private_folders()
    public_looking = []
    for module, _ in modules():
        parts = module.split(".")
        if module in PUBLIC_FACES or any(p.startswith("_") for p in parts[1:]):
            continue
        if len(parts) > 2 and parts[1] in private:
            continue
        if len(parts) > 1 and parts[1] in private and module.count(".") == 1:
            continue  # the folder itself, which says it is private
        public_looking.append(module)
    assert public_looking == []


def test_every_folder_says_what_it_owns() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc) > 80, f"{init.parent.name}/__init__.py: say what the folder owns"


def documented_exceptions() -> dict[str, str]:
    """Functions docs/architecture.md lets be long or complex: ``module:qualname`` → reason."""
    text = ARCHITECTURE.read_text()
    section = text.split("## Long or complex functions", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w.]+:[\w.]+)` \| (.+?) \|$", section, re.M)
    return {name: reason.strip() for name, reason in rows}


def function_sizes() -> dict[str, tuple[int, int]]:
    """``module:qualname`` → (lines without the docstring, radon complexity) for every function."""
    sizes: dict[str, tuple[int, int]] = {}
    for module, path in modules():
        source = path.read_text()
        complexity = _complexity_by_line(cc_visit(source))
        for qualname, node in _functions(ast.parse(source)):
            body = node.body
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and len(body) > 1
            ):
                first = body[1]
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            decorated = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            cc = complexity.get(node.lineno, complexity.get(decorated, 1))
            sizes[f"{module}:{qualname}"] = (lines, cc)
    return sizes


def _complexity_by_line(blocks: list[Any]) -> dict[int, int]:
    """Radon's blocks (functions, classes' methods, closures) by the line each starts on."""
    found: dict[int, int] = {}
    for block in blocks:
        if hasattr(block, "methods"):
            found |= _complexity_by_line(block.methods)
            found |= _complexity_by_line(getattr(block, "inner_classes", []))
        else:
            found[block.lineno] = block.complexity
            found |= _complexity_by_line(getattr(block, "closures", []))
    return found


def _functions(
    tree: ast.AST, prefix: str = ""
) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.append((prefix + node.name, node))
            found += _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            found += _functions(node, f"{prefix}{node.name}.")
    return found


def test_no_function_is_long_or_complex_unless_the_architecture_says_why() -> None:
    allowed = documented_exceptions()
    too_big = {
        name: size
        for name, size in function_sizes().items()
        if (size[0] > MAX_LINES or size[1] > MAX_COMPLEXITY) and name not in allowed
    }
    assert too_big == {}


def test_every_named_exception_still_exists_and_is_still_big() -> None:
    sizes = function_sizes()
    stale = [
        name
        for name in documented_exceptions()
        if name not in sizes or (sizes[name][0] <= MAX_LINES and sizes[name][1] <= MAX_COMPLEXITY)
    ]
    assert stale == []


@pytest.mark.parametrize("old", ["mediatask.errors", "mediatask.journal_backend", "mediatask.api"])
def test_an_old_module_path_still_imports_with_a_warning(old: str) -> None:
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match="import the names mediatask exports"):
        module = importlib.import_module(old)
    assert module.__name__ != old
    assert module.__spec__ is not None
    assert module.__spec__.name == module.__name__


def test_an_old_name_of_a_module_now_a_folder_still_imports_with_a_warning() -> None:
    import mediatask.model
    from mediatask.model.values import Job

    with pytest.warns(DeprecationWarning, match=r"mediatask\.model\.Job moved: import it from "):
        assert mediatask.model.Job is Job
    with pytest.raises(AttributeError):
        _ = mediatask.model.NoSuchName


def test_the_warning_of_an_old_path_points_at_the_line_that_imported() -> None:
    # Python shows a DeprecationWarning by default only where it points at __main__'s code.
    import sys
    import warnings

    for line in ("from mediatask.errors import AuthError", "from mediatask.model import Job"):
        sys.modules.pop("mediatask.errors", None)
        code = compile(line, "user_script.py", "exec")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(code, {"__name__": "__main__"})  # noqa: S102  # a user's script, here
        assert caught, line
        assert {w.filename for w in caught} == {"user_script.py"}, [str(w) for w in caught]


def test_a_private_name_of_an_old_path_is_not_sent_to_mediatask() -> None:
    import mediatask.batch
    from mediatask.batch.runner import result_line

    with pytest.warns(
        DeprecationWarning, match=r"is private and moved to mediatask\.batch\.runner"
    ):
        assert mediatask.batch.result_line is result_line


def test_the_type_checkers_list_of_public_names_is_the_table() -> None:
    import mediatask

    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If))
    seen: dict[str, set[str]] = {}
    for node in guarded.body:
        assert isinstance(node, ast.ImportFrom)
        assert node.module is not None
        for alias in node.names:
            assert alias.asname == alias.name, "re-exported with `X as X`"
            seen.setdefault(node.module, set()).add(alias.name)
    table = {module: set(names) for module, names in mediatask._PUBLIC.items()}
    assert seen == table
    assert mediatask.__all__ == sorted(name for names in table.values() for name in names)
    for name in mediatask.__all__:
        assert getattr(mediatask, name) is not None


@pytest.mark.parametrize(
    ("old", "name", "now"),
    [
        ("mediatask.http11", "MAX_ANSWER_BYTES", "mediatask.http.exchange.MAX_ANSWER_BYTES"),
        ("mediatask.transport", "CommitReporting", "mediatask.http.transport.Transport"),
        ("mediatask.batch", "CANCEL_SECONDS", "mediatask.engine.deadline.CANCEL_SECONDS"),
        ("mediatask.journal_postgres", "IDLE_IN_TRANSACTION_MS", None),
    ],
)
def test_a_name_an_old_module_had_elsewhere_still_imports_with_a_warning(
    old: str, name: str, now: str | None
) -> None:
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the module's own warning: tested above
        module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=name):
        value = getattr(module, name)
    if now is not None:
        home, _, new_name = now.rpartition(".")
        assert value is getattr(importlib.import_module(home), new_name)
