"""The house rules of the code: no import cycle between the project's
modules (function-level imports included), dependencies pointing one way
(panel -> operators -> pipeline -> models, cli -> pipeline), models/ knowing
nothing of datasets, no long module under pipeline/ or models/ without a
reason, and pipeline/ kept as one folder per system."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "autolabel"
SKIPPED = {"tests", "bench", ".venv", ".venv-labelstudio", "node_modules", "build", ".git", ".ci"}

#: at most this many lines, unless the docstring says why
MAX_LINES = 400

#: at most this many modules directly in pipeline/: the rest live in one
#: folder per system (records/, generation/, zeroshot/, review/, ...)
MAX_PIPELINE_MODULES = 12


def _modules():
    """Module name -> path of every project module (the repo root is the
    ``autolabel`` package)."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if set(rel.parts) & SKIPPED:
            continue

        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]

        modules[".".join([PACKAGE] + parts)] = path

    return modules


def _is_package(path):
    return path.name == "__init__.py"


def _imports(name, path, modules):
    """The project modules that a module imports, anywhere in it."""
    tree = ast.parse(path.read_text())
    package = name if _is_package(path) else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""

            targets = []
            for alias in node.names:
                sub = prefix + "." + alias.name
                targets.append(sub if sub in modules else prefix)
        else:
            continue

        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]

            if target and target != name:
                found.add(target)

    return found


def _graph():
    modules = _modules()
    return modules, {
        name: _imports(name, path, modules) for name, path in modules.items()
    }


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])

        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break

            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    return cycles


def _layer(name):
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_cycles():
    _, graph = _graph()
    # a package's __init__ re-exporting its modules is not a cycle with them
    graph = {
        v: {w for w in ws if not v.startswith(w + ".")}
        for v, ws in graph.items()
    }
    assert _cycles(graph) == []


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]
    ]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_dependencies_point_one_way():
    _, graph = _graph()
    # what each layer may not import
    forbidden = {
        "models": {"pipeline", "operators", "panel", "cli", "demo"},
        "pipeline": {"operators", "panel", "cli", "demo"},
        "operators": {"panel", "cli", "demo"},
        "cli": {"operators", "panel", "demo"},
    }
    wrong = sorted(
        (v, w)
        for v, ws in graph.items()
        for w in ws
        if _layer(w) in forbidden.get(_layer(v), ())
    )
    assert wrong == []


def test_models_know_nothing_of_datasets():
    modules, _ = _graph()
    wrong = []
    for name, path in modules.items():
        if _layer(name) != "models":
            continue

        tree = ast.parse(path.read_text())
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("fiftyone."):
                        wrong.append((name, a.name))
                    elif a.name == "fiftyone":
                        aliases.add(a.asname or a.name)
            elif isinstance(node, ast.ImportFrom) and (
                node.module or ""
            ).startswith("fiftyone"):
                wrong.append((name, node.module))

        # only FiftyOne's config (where the model zoo is) may be read
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr != "config"
            ):
                wrong.append((name, "%s.%s" % (node.value.id, node.attr)))

    assert wrong == []


def test_long_modules_say_why():
    modules, _ = _graph()
    unexplained = []
    for name, path in modules.items():
        if _layer(name) not in ("pipeline", "models"):
            continue

        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and not re.search(r"Why it is long:", doc):
            unexplained.append((name, lines))

    assert unexplained == []


def test_every_package_is_installed():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {
        name for name, path in _modules().items() if _is_package(path)
    }
    assert packages - listed == set()


def test_pipeline_shows_its_systems():
    pipeline = ROOT / "pipeline"
    modules = sorted(p.name for p in pipeline.glob("*.py"))
    assert len(modules) <= MAX_PIPELINE_MODULES, modules

    # each system's folder says what it is
    systems = [p for p in pipeline.iterdir() if (p / "__init__.py").exists()]
    assert {p.name for p in systems} >= {
        "records",
        "generation",
        "zeroshot",
        "review",
        "quality",
        "formats",
        "loop",
        "brain",
    }
    undocumented = [
        p.name
        for p in systems
        if not ast.get_docstring(ast.parse((p / "__init__.py").read_text()))
    ]
    assert undocumented == []


def test_the_panel_keeps_no_flow_modes_or_samplings():
    # the forms of a flow are drawn from its declaration
    # (pipeline/loop/declaration.py): no mode or sampling is spelled in the
    # component
    from autolabel.pipeline import loop as L

    values = set(L.Mode.ALL) | set(L.Sampling.ALL)
    literal = re.compile(r"""(["'`])(%s)\1""" % "|".join(re.escape(v) for v in values))
    found = [
        (path.name, m.group(0))
        for path in sorted((ROOT / "panel" / "js" / "src").rglob("*.ts*"))
        for m in literal.finditer(path.read_text())
    ]
    assert found == []


def test_the_panel_keeps_no_tasks_methods_schedules_or_aggregations():
    # the Configure form is drawn from the generation run's declaration
    # (pipeline/generation/declaration.py): no task, method, schedule or
    # aggregation is spelled in the component
    from autolabel.models import catalog as mc
    from autolabel.pipeline.zeroshot import annealing as A

    values = (
        set(mc.TASKS)
        | {v for k, v in vars(mc).items() if k.startswith("METHOD_")}
        | set(A.SCHEDULES)
        | set(A.AGGREGATIONS)
    )
    literal = re.compile(r"""(["'`])(%s)\1""" % "|".join(re.escape(v) for v in values))
    found = [
        (path.name, m.group(0))
        for path in sorted((ROOT / "panel" / "js" / "src").rglob("*.ts*"))
        for m in literal.finditer(path.read_text())
    ]
    assert found == []
