"""The package's shape: one folder per paper, the engine, the course; imports that only go down; small files."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kd_teach"

# Each module's layer (a folder stands for its __init__). A module imports only from lower layers, or
# from its own folder at its own layer; nothing imports the CLI, and no loss imports a stage.
LAYERS = [
    ["temperature"],
    ["hinton.losses", "distilbert.masking", "tinybert.losses", "tinybert.mapping"],
    ["distilbert.losses"],                                   # L_ce is Hinton's distillation_loss per position
    ["engine.plot_labels"],                                  # matplotlib only: labels kept apart on a chart
    ["kd_teach", "losses", "hinton", "distilbert", "tinybert", "engine", "course",
     "engine.hub", "engine.runtime", "engine.checkpoint", "engine.presets", "engine.report", "engine.frontier",
     "engine.significance",
     "course.checks.core", "course.exercises", "course.run_notebook", "course.live_plot"],
    ["engine.data", "engine.models", "engine.model_folder", "engine.verdicts"],
    ["engine.corpus", "engine.tasks", "engine.train", "engine.evaluate", "distilbert.student", "tinybert.attention",
     "tinybert.fill_mask"],
    ["engine.finetune", "engine.measure", "engine.deploy", "hinton.stages", "distilbert.stages",
     "tinybert.teacher_outputs", "tinybert.augment"],
    ["tinybert.stages", "engine.deployment"],
    ["engine.cache"],
    ["engine.row_cache"],                                    # imports the cache root and evaluate
    ["tinybert.rows", "distilbert.rows"],
    ["engine.pipeline"],
    ["course.checks", "course.checks.hinton", "course.checks.distilbert", "course.checks.tinybert",
     "course.checks.mapping", "course.checks.students", "course.checks.nested", "course.checks.general",
     "course.checks.task", "course.checks.augmentation", "course.checks.leaderboard", "course.checks.bootstrap",
     "course.checks.deployment",
     "course.checks.bugs",
     "course.checks.bugs_tinybert", "course.bank", "course.quiz", "course.terminal_quiz", "course.interview", "course.widgets",
     "course.attention_view", "course.chapters", "course.kd_loss_explorer", "course.mapping_picker",
     "course.augment_explorer", "course.vocab_explorer", "course.leaderboard"],
    ["engine.cli"],
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(parts) or "kd_teach"


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The kd_teach modules ``path`` imports, at the top or inside functions (not under TYPE_CHECKING)."""
    tree, found = ast.parse(path.read_text()), set()
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kd_teach"):
            found.add(node.module.removeprefix("kd_teach.") if node.module != "kd_teach" else "kd_teach")
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("kd_teach.") for a in node.names if a.name.startswith("kd_teach.")}
    return found


def test_every_module_has_a_layer():
    assert set(MODULES) == set(LAYER), (set(MODULES) ^ set(LAYER))


def test_the_tree_is_one_folder_per_paper_plus_course_and_engine():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == {"hinton", "distilbert", "tinybert", "course", "engine"}
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "temperature.py", "losses.py"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_only_go_down(name):
    upward = []
    for target in _imports(MODULES[name]):
        assert target in LAYER, f"{name} imports {target}, which is not a module"
        same_folder = target.rpartition(".")[0] == name.rpartition(".")[0] or target.startswith(name + ".")
        if LAYER[target] > LAYER[name] or (LAYER[target] == LAYER[name] and not same_folder):
            upward.append(target)
    assert not upward, f"{name} (layer {LAYER[name]}) imports {upward} from its own layer or above"


def test_no_cycles_and_nothing_imports_the_cli():
    graph = {name: _imports(path) for name, path in MODULES.items()}
    assert not [n for n, targets in graph.items() if "engine.cli" in targets]
    for losses in ("hinton.losses", "distilbert.losses", "tinybert.losses"):
        assert not [t for t in graph[losses] if t.endswith("stages")], losses
    state: dict[str, int] = {}

    def visit(n: str, path: tuple) -> None:          # depth-first: 1 = on the path, 2 = done
        assert state.get(n) != 1, f"import cycle: {' -> '.join(path + (n,))}"
        if state.get(n) == 2:
            return
        state[n] = 1
        for m in graph.get(n, ()):
            if m != n and not n.startswith(m + "."):  # a package's own __init__ is not a cycle
                visit(m, path + (n,))
        state[n] = 2

    for n in graph:
        visit(n, ())


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_400_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= 400, f"{name}: {lines} lines"


def _package_map() -> set[str]:
    """The package map of docs/package.md as paths: 'kd_teach/hinton/losses.py', ... (folders end in '/')."""
    text = (PACKAGE.parent / "docs" / "package.md").read_text()
    block = text[text.index("```\nkd_teach/\n") + 4:]
    block = block[:block.index("```")]
    paths, stack = set(), []                                     # stack: (indent, folder path)
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        names = [n.strip() for n in line.strip().split("  ")[0].split(",")]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        for n in names:
            paths.add(parent + n)
        if len(names) == 1 and names[0].endswith("/"):
            stack.append((indent, parent + names[0]))
    return paths


def test_the_package_map_in_the_docs_is_the_tree_module_for_module():
    tree = {"kd_teach/"} | {"kd_teach/" + p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                            if p.name != "__init__.py"}
    tree |= {"kd_teach/" + p.relative_to(PACKAGE).as_posix() + "/" for p in PACKAGE.rglob("*")
             if p.is_dir() and (p / "__init__.py").is_file()}
    assert _package_map() == tree, (_package_map() ^ tree)
