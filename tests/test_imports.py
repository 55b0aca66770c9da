"""Imports point one way: no cycles (counting imports inside functions too), nothing imports
the command line, and only the command line and the renderers import typer and rich."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recfactor"
SAMPLE_FOOD = PACKAGE.parent / "sample_data" / "food.csv"
SAMPLE_RATINGS = PACKAGE.parent / "sample_data" / "ratings.csv"
SPARK_MODULES = {
    "recfactor.spark_engine",
    "recfactor.spark_summary",
    "recfactor.spark_scoring",
    "recfactor.evaluation.spark",
}
CLI_PREFIX = "recfactor.cli"
RENDERERS = {"recfactor.report", "recfactor.plot"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of the package (and third-party top-level name) ``path`` imports,
    anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if f"{node.module}.{a.name}" in modules}  # fmt: skip
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = {t for t in _imports(path, modules) if t in modules and t != name}
        # Importing recfactor.x.y runs recfactor.x first, but a package's __init__ that only
        # names its modules lazily is no dependency of theirs.
        graph[name] = {t for t in targets if t != "recfactor"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_nothing_imports_the_command_line():
    graph = _graph()
    users = sorted(
        name
        for name, targets in graph.items()
        if any(t.startswith(CLI_PREFIX) for t in targets)
        and not name.startswith(CLI_PREFIX)
        and name != "recfactor.__main__"
    )
    assert users == []


def test_typer_and_rich_stay_in_the_command_line_and_the_renderers():
    modules = _modules()
    for name, path in modules.items():
        imported = {i.split(".")[0] for i in _imports(path, modules)}
        in_cli = name.startswith(CLI_PREFIX)
        if "typer" in imported or "click" in imported:
            assert in_cli, name
        if "rich" in imported:
            assert in_cli or name in RENDERERS, name


def _is_command(node: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and getattr(d.func, "attr", None) == "command"
               for d in node.decorator_list)  # fmt: skip


def test_command_functions_stay_short():
    """The command line translates: a command whose body (below its docstring) grows past 25
    lines, or a helper past 45, is doing the engine's work."""
    long = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                body = node.body
                has_doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                start = body[1].lineno if has_doc and len(body) > 1 else body[0].lineno
                if node.end_lineno - start + 1 > (25 if _is_command(node) else 45):
                    long.append(f"{path.name}:{node.name}")
    assert long == []


def test_the_command_line_stays_small():
    """The use cases live in the engine (workflows, lists, io): cli/ only translates. The
    budget: 2,300 lines for the twelve commands of issue 23, then `serve`'s 55, the 35 that
    hand predict, recommend and similar to Spark, the 10 that refuse an empty ID, the 5 that
    refuse standard input read twice and the 3 of export's note on an ordinal model."""
    lines = sum(len(path.read_text().splitlines()) for path in (PACKAGE / "cli").glob("*.py"))
    assert lines <= 2408


def test_option_groups_are_declared_once():
    """The read, split, output and Spark flags are declared in cli/groups.py alone; a command
    names the group (or part of it), never the flags."""
    from recfactor.cli.groups import OUTPUT, READ, SPARK, SPLIT

    # In an Annotated declaration typer keeps the first name as the option's "default".
    flags = {f.split("/")[0] for group in (READ, SPLIT, OUTPUT, SPARK)
             for _, _, option in group.flags.values()
             for f in (option.default, *option.param_decls)}  # fmt: skip
    assert {"--sep", "--folds", "--format", "--engine"} <= flags
    flags -= {"-o", "--output"}  # split's -o is its output folder, update's the model's path
    found = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        if path.name == "groups.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Option":
                names = {a.value.split("/")[0] for a in node.args if isinstance(a, ast.Constant)}
                found += [f"{path.name}: {n}" for n in sorted(names & flags)]
    assert found == []


def test_predict_imports_neither_spark_nor_the_heavy_libraries(tmp_path):
    """`recfactor predict` on a saved model starts in about 0.3 s: it loads no pyspark (even
    for a model trained on Spark, which is an ordinary model file), numba, scipy or pandas."""
    model = tmp_path / "food.model"
    trained = subprocess.run([sys.executable, "-m", "recfactor", "train", str(SAMPLE_FOOD), "-m",
                              str(model), "-q"], capture_output=True, text=True)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    code = (
        "import sys\nfrom recfactor.cli import main\n"
        "sys.argv = ['recfactor', 'predict', '--user', '1', '--item', 'pizza', '-m', "
        f"{str(model)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('pyspark', 'numba', 'scipy', 'pandas') if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "user,item,prediction,cold" and lines[-1] == "[]"
    # A file of pairs, written as CSV by Arrow: still no pandas (pyarrow's pa.array imports it)
    batch = code.replace("'--user', '1', '--item', 'pizza'", repr(str(SAMPLE_FOOD)))
    result = subprocess.run([sys.executable, "-c", batch], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].endswith(",prediction,cold") and len(lines) > 10
    assert lines[-1] == "[]"


def _imports_after(command: list[str], module: str, setup: str = "") -> bool:
    """Whether ``recfactor COMMAND``, run in a fresh process after the Python ``setup``, has
    imported ``module`` by its end."""
    code = (
        f"import sys\n{setup}from recfactor.cli import main\n"
        f"sys.argv = ['recfactor', *{command!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print({module!r} in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("stream_from", [None, 0])
def test_train_reads_and_fits_without_pandas(tmp_path, stream_from):
    """`recfactor train` on a CSV, read whole or a slice at a time (as files of 256 MB and
    more), imports no pandas (40 MB of a process's memory: pyarrow imports it whenever it is
    handed a Python value)."""
    patch = "" if stream_from is None else (
        "import recfactor.io.stream as s\ns.STREAM_FROM = 0\ns.SLICE_BYTES = 4096\n"
    )  # fmt: skip
    command = ["train", str(SAMPLE_RATINGS), "-m", str(tmp_path / "r.model"), "-q"]
    assert not _imports_after(command, "pandas", patch)


def test_a_batch_of_100000_pairs_is_predicted_without_numba(tmp_path):
    """Loading numba and its compiled loop (about 0.5 s) is more than numpy takes for 100,000
    pairs at 100 factors (0.1 s): a batch that size is predicted without it."""
    model = tmp_path / "r.model"
    trained = subprocess.run([sys.executable, "-m", "recfactor", "train", str(SAMPLE_RATINGS),
                              "-m", str(model), "-q"], capture_output=True, text=True)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    rng = np.random.default_rng(0)
    pairs = tmp_path / "pairs.csv"
    np.savetxt(pairs, np.c_[rng.integers(1, 1001, 100_000), rng.integers(1, 501, 100_000)],
               fmt="u%d,m%03d", header="user,item", comments="")  # fmt: skip
    command = ["predict", str(pairs), "-m", str(model), "-o", str(tmp_path / "p.csv")]
    assert not _imports_after(command, "numba")
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 100_001


def test_only_the_spark_modules_import_pyspark():
    modules = _modules()
    takers = {name for name, path in modules.items()
              if any(m.split(".")[0] == "pyspark" for m in _imports(path, modules))}  # fmt: skip
    assert takers == SPARK_MODULES


def test_no_cli_module_imports_a_private_name_of_another():
    """What the commands share is cli/common.py's public surface; a private name imported
    across modules is a helper that belongs in the engine or in common's public part."""
    crossing = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "recfactor.cli."
            ):
                crossing += [f"{path.name}: {a.name}" for a in node.names if a.name[0] == "_"]
    assert crossing == []
