"""Dependencies point one way: llmops.core <- accounts <- prompts <- runs <- evaluation <- experiments
<- llmops (the wiring: settings, urls, celery, bootstrap, aggregate views).

A module may import its own layer and the layers to its left, never one to its right. Test modules
(``<app>/tests/...``) follow the same rule and may also import the test helpers (factories,
helpers) of their own and lower layers; code outside tests never imports a test module, and no
module imports a ``conftest`` (helpers live in ``tests/helpers.py``, fixtures in conftest). Every
import counts, including those inside functions and ``TYPE_CHECKING`` blocks: a lazy import is
still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("llmops.core", "accounts", "prompts", "runs", "evaluation", "experiments", "llmops")
SKIP_DIRS = {".venv", ".git", "node_modules", "__pycache__", "migrations", "bench", "docker", "bin"}


def layer_of(module: str) -> int | None:
    """Index in LAYERS of the project package holding ``module`` (None: a third-party module)."""
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return index
    return None


def is_test_module(module: str) -> bool:
    parts = module.split(".")
    return "tests" in parts or parts[-1] == "conftest"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, *, module: str, is_package: bool) -> list[tuple[int, str]]:
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import name`` may import a submodule: count pkg.name when it names one.
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*")
    return found


def violations(root: Path) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part in SKIP_DIRS for part in relative.parts) or (len(relative.parts) < 2 and path.stem != "conftest"):
            continue
        module = module_name(path, root)
        own = LAYERS.index("llmops") if path.stem == "conftest" and len(relative.parts) == 1 else layer_of(module)
        if own is None:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        seen = set()
        for lineno, target in imported_modules(tree, module=module, is_package=path.name == "__init__.py"):
            if target == "conftest" or target.endswith(".conftest"):
                problems.append(f"{relative}:{lineno} imports {target}: import helpers from a helpers module")
                continue
            target_layer = layer_of(target)
            if target_layer is None or (lineno, target_layer) in seen:
                continue
            if target_layer > own:
                problems.append(f"{relative}:{lineno} imports {target} ({LAYERS[target_layer]} is above {LAYERS[own]})")
                seen.add((lineno, target_layer))
            elif is_test_module(target) and not is_test_module(module):
                problems.append(f"{relative}:{lineno} imports test module {target} outside the tests")
                seen.add((lineno, target_layer))
    return problems


def test_no_module_imports_against_the_dependency_direction():
    assert violations(ROOT) == []


def test_core_imports_no_app_and_llmops_is_the_top_layer():
    assert layer_of("llmops.core.api.errors") == 0
    assert layer_of("llmops.settings") == len(LAYERS) - 1
    assert layer_of("django.db") is None


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("llmops/core/net.py", "from accounts.models import Project\n", "accounts is above llmops.core"),
        ("llmops/core/api/x.py", "def f():\n    from runs import services\n", "runs is above llmops.core"),
        ("prompts/services.py", "import experiments.models\n", "experiments is above prompts"),
        ("runs/models.py", "from llmops.urls import urlpatterns\n", "llmops is above runs"),
        ("accounts/views.py", "from accounts.tests.factories import ProjectFactory\n", "test module"),
        ("runs/tests/test_x.py", "from experiments.tests.factories import ExperimentFactory\n", "experiments is above"),
        (
            "evaluation/scorers/a.py",
            "from ..models import GoldenExample\nfrom ...experiments import x\n",
            "experiments",
        ),
        ("runs/tests/test_x.py", "from runs.tests.conftest import make_endpoint\n", "helpers module"),
        ("llmops/tests/test_x.py", "from conftest import make_tenant\n", "helpers module"),
    ],
)
def test_the_check_finds_an_import_against_the_direction(tmp_path, path, source, expected):
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(source)
    (found,) = violations(tmp_path)
    assert expected in found


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("experiments/services.py", "from runs.models import Run\nfrom llmops.core.errors import Conflict\n"),
        ("runs/tests/test_x.py", "from prompts.tests.factories import PromptFactory\nfrom runs.tests import helpers\n"),
        ("llmops/views.py", "from experiments.models import Experiment\n"),
        ("conftest.py", "from experiments.tests.factories import ExperimentFactory\n"),
    ],
)
def test_the_check_allows_imports_along_the_direction(tmp_path, path, source):
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    assert violations(tmp_path) == []
