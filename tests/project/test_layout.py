"""The house's layers: pure rules, storage, the shop client, services, edges; no import cycles.

The checks read every module's source (imports inside functions included), so modules added
later are covered too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT

PACKAGES = ("bridge", "webhooks", "sync")
EDGE_PACKAGES = ("webhooks", "sync")
# The command-line package is the composition root: the one core package that wires the edges.
COMPOSITION_ROOT = "bridge.cli"
RULES = "bridge.rules"
# The web app by audience: each package owns its blueprints; only the app factory (and the
# package that exports it) puts them together. The rest of webhooks/ is what they share.
WEB_AUDIENCES = ("webhooks.receivers", "webhooks.api", "webhooks.console", "webhooks.public")
WEB_FACTORY = ("webhooks", "webhooks.app")
# What a pure rule may import from the project besides other rules.
RULES_MAY_IMPORT = {"bridge.errors"}
# Libraries that do I/O or belong to a framework: none of them in the pure rules.
IO_LIBRARIES = {
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "requests",
    "urllib3",
    "woocommerce",
    "flask",
    "werkzeug",
    "click",
    "apscheduler",
    "psycopg",
    "socket",
    "http",
    "urllib",
    "sqlite3",
    "gunicorn",
    "subprocess",
    "threading",
}
MAX_LINES = 800
SERVICES = "bridge.services"
# A folder holds at most this many modules directly (its __init__ not counted).
MAX_MODULES_PER_FOLDER = 15


def _modules(root: Path = ROOT) -> dict[str, Path]:
    """Every project module by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, name) of every import in a file, relative ones resolved, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.append((node.lineno, full if full in known else base))
    return names


def _project_target(name: str, known: set[str]) -> str | None:
    """The project module an import name lands in (its longest known prefix), if any."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports, at module or function level."""
    modules = _modules(root)
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {_project_target(name, known) for _, name in _imports(module, path, known)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_module_of_bridge_webhooks_or_sync_is_part_of_an_import_cycle() -> None:
    """The import graph, function-level imports included, has no cycle."""
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    """A late import inside a function still closes a cycle, and the check reports it."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bridge" / "a.py").write_text("from bridge.b import thing\n")
    (tmp_path / "bridge" / "b.py").write_text(
        "thing = 1\n\ndef late():\n    from bridge import a\n    return a\n"
    )
    (tmp_path / "sync" / "c.py").write_text("from . import d\n")
    (tmp_path / "sync" / "d.py").write_text("from sync.c import x\n")
    assert cycles(import_graph(tmp_path)) == [["bridge.a", "bridge.b"], ["sync.c", "sync.d"]]


def test_pure_rules_import_no_io_library_and_nothing_of_the_project_but_rules_and_errors() -> None:
    """bridge/rules/ takes and returns plain data: no database, HTTP, web, CLI or scheduler."""
    modules = _modules()
    known = set(modules)
    offenders = []
    for module, path in modules.items():
        if not _in(module, RULES):
            continue
        for lineno, name in _imports(module, path, known):
            top = name.split(".")[0]
            target = _project_target(name, known)
            if top in IO_LIBRARIES:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
            elif target and not _in(target, RULES) and target not in RULES_MAY_IMPORT:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {target}")
    assert offenders == [], "the rules must stay pure:\n" + "\n".join(offenders)


def test_the_core_imports_no_edge_except_from_the_command_line_package() -> None:
    """Only bridge.cli, the composition root, may import webhooks or sync."""
    graph = import_graph()
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _in(module, "bridge") and not _in(module, COMPOSITION_ROOT)
        for target in targets
        if any(_in(target, edge) for edge in EDGE_PACKAGES)
    )
    assert offenders == []


def test_the_edges_import_neither_each_other_nor_the_command_line() -> None:
    """webhooks and sync depend on the core only; neither imports the other or bridge.cli."""
    graph = import_graph()
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for edge in EDGE_PACKAGES
        if _in(module, edge)
        for target in targets
        if _in(target, COMPOSITION_ROOT)
        or any(_in(target, other) for other in EDGE_PACKAGES if other != edge)
    )
    assert offenders == []


def test_the_web_audiences_import_neither_each_other_nor_the_app_factory() -> None:
    """receivers, api, console and public share only webhooks' own infrastructure (runtime,
    limits, page limits, assets, the report's rendering), which imports no audience."""
    graph = import_graph()
    offenders = []
    for module, targets in graph.items():
        if not _in(module, "webhooks") or module in WEB_FACTORY:
            continue
        own = next((audience for audience in WEB_AUDIENCES if _in(module, audience)), None)
        offenders.extend(
            f"{module} imports {target}"
            for target in sorted(targets)
            if target in WEB_FACTORY
            or any(_in(target, audience) for audience in WEB_AUDIENCES if audience != own)
        )
    assert offenders == []


def test_each_web_audience_is_a_package_that_says_what_it_owns() -> None:
    """webhooks/receivers, api, console and public each have an __init__ with a docstring."""
    for audience in WEB_AUDIENCES:
        init = ROOT.joinpath(*audience.split("."), "__init__.py")
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), audience


def test_the_shop_is_spoken_to_over_http_only_by_the_shop_client() -> None:
    """requests and the woocommerce package appear only in bridge/shop/ and the CLI's tools."""
    modules = _modules()
    known = set(modules)
    offenders = []
    for module, path in modules.items():
        if _in(module, "bridge.shop") or _in(module, COMPOSITION_ROOT) or not _in(module, "bridge"):
            continue
        for lineno, name in _imports(module, path, known):
            if name.split(".")[0] in ("requests", "woocommerce"):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
    assert offenders == []


def test_no_module_is_longer_than_about_eight_hundred_lines() -> None:
    """A module past ~800 lines holds two responsibilities; split it."""
    long = sorted(
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in _modules().values()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    )
    assert long == []


def test_the_layers_live_in_their_folders() -> None:
    """Rules, storage, the shop client, services and the CLI each have their package."""
    for package in ("rules", "store", "shop", "services", "cli"):
        assert (ROOT / "bridge" / package / "__init__.py").is_file(), package


def _feature(module: str) -> str | None:
    """The feature package (bridge.services.<feature>) a module is part of, if any."""
    parts = module.split(".")
    return ".".join(parts[:3]) if parts[:2] == SERVICES.split(".") and len(parts) > 2 else None


def test_a_feature_is_used_through_its_package_never_through_one_of_its_modules() -> None:
    """Outside bridge.services.<feature>, bridge/, webhooks/ and sync/ import the feature's
    public names from its package (its __init__), never one of its modules; inside a feature,
    modules import each other directly.

    tests/ and bench/ are not held to this: a unit test may import the module it tests.
    """
    graph = import_graph()
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if (feature := _feature(target)) and target != feature and _feature(module) != feature
    )
    assert offenders == []


def test_the_boundary_check_finds_a_private_module_imported_from_outside(tmp_path: Path) -> None:
    """A module of one feature imported by another feature, or by an edge, is reported; the
    feature's package and its own modules' imports of each other are not."""
    for package in (*PACKAGES, "bridge/services", "bridge/services/a", "bridge/services/b"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bridge/services/a/__init__.py").write_text("from bridge.services.a.x import f\n")
    (tmp_path / "bridge/services/a/x.py").write_text("from bridge.services.a.y import g\nf = g\n")
    (tmp_path / "bridge/services/a/y.py").write_text("g = 1\n")
    (tmp_path / "bridge/services/b/z.py").write_text(
        "from bridge.services.a import f\n\ndef late():\n    from bridge.services.a.y import g\n"
    )
    (tmp_path / "sync" / "job.py").write_text("from bridge.services.a import x\n")
    graph = import_graph(tmp_path)
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if (feature := _feature(target)) and target != feature and _feature(module) != feature
    )
    assert offenders == [
        "bridge.services.b.z imports bridge.services.a.y",
        "sync.job imports bridge.services.a.x",
    ]


def test_each_feature_is_a_package_whose_init_says_what_it_owns_and_exports_by_name() -> None:
    """bridge/services/ holds feature packages only; each __init__ has a docstring, imports
    from its own modules only, and lists exactly those names in __all__."""
    services = ROOT / "bridge" / "services"
    for entry in sorted(services.iterdir()):
        if entry.name in ("__init__.py", "__pycache__"):
            continue
        assert (entry / "__init__.py").is_file(), f"{entry.name} is not a feature package"
        tree = ast.parse((entry / "__init__.py").read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{entry.name}/__init__.py says nothing of what it owns"
        imported: set[str] = set()
        exported: list[str] = []
        for node in tree.body[1:]:
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").startswith(f"{SERVICES}.{entry.name}."), entry.name
                imported.update(alias.asname or alias.name for alias in node.names)
            else:
                assert isinstance(node, ast.Assign), f"{entry.name}/__init__.py holds code"
                assert [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]
                exported = ast.literal_eval(node.value)
        assert sorted(exported) == sorted(imported), entry.name


def test_no_folder_of_bridge_holds_more_than_fifteen_modules() -> None:
    """A folder past 15 modules is several features in one room; make them packages."""
    counts = {
        folder.relative_to(ROOT).as_posix(): len(
            [path for path in folder.glob("*.py") if path.name != "__init__.py"]
        )
        for folder in (ROOT / "bridge").rglob("*")
        if folder.is_dir() and (folder / "__init__.py").is_file()
    }
    over = sorted(
        f"{folder}: {count} modules"
        for folder, count in counts.items()
        if count > MAX_MODULES_PER_FOLDER
    )
    assert over == []


TESTS = ROOT / "tests"


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import in a file outside the project packages."""
    return [(line, name) for line, name in _imports("", path, set()) if not name.startswith(".")]


def test_no_test_module_lives_directly_in_tests() -> None:
    """Tests live in folders that mirror the packages (tests/rules/, tests/web/api/ ...)."""
    assert sorted(path.name for path in TESTS.glob("test_*.py")) == []


def test_every_folder_of_tests_is_a_package_with_a_docstring() -> None:
    """Each folder holding modules has an __init__ saying what it tests, so two test modules
    of one name in two folders never collide and a reader knows what the folder is for."""
    folders = sorted({path.parent for path in TESTS.rglob("*.py")})
    for folder in folders:
        init = folder / "__init__.py"
        assert init.is_file(), f"{folder.relative_to(ROOT)} has no __init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_helpers_come_from_tests_support_never_from_a_conftest() -> None:
    """No module imports a conftest (pytest finds fixtures by itself), and the helpers in
    tests/support/ define no fixtures: a fixture lives in the conftest of the folder using it."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in _imported_names(path)
        if name == "conftest" or name.endswith(".conftest") or ".conftest." in name
    ]
    for path in sorted((TESTS / "support").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders.extend(
            f"{path.relative_to(ROOT)}:{node.lineno} defines the fixture {node.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            and any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
        )
    assert offenders == []


def test_bench_imports_nothing_from_tests() -> None:
    """The benchmarks stand on their own: what they share with the tests (the fuzz cases) lives
    in bench/ and the tests import it from there, never the other way round."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "bench").rglob("*.py"))
        for line, name in _imported_names(path)
        if name == "tests" or name.startswith("tests.")
    ]
    assert offenders == []
