"""The package's shape (issue 10): stages are peers, and the layers under them import no stage.

Walks every module's imports with ``ast`` (top-level and inside functions), resolving
relative imports, so a lazy ``from ..comp.matte import x`` inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vfx_double

PACKAGE = Path(vfx_double.__file__).parent
STAGES = ("track", "train", "render", "comp")
#: modules that run stages: the command, and the demo that drives every stage
RUNNERS = ("vfx_double.cli", "vfx_double.demo")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, source: str | None = None) -> set[str]:
    """Every ``vfx_double`` module ``path`` (or ``source`` as if it were there) imports,
    as absolute dotted names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from . import colour_match`` imports a module, not a name
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m == "vfx_double" or m.startswith("vfx_double.")}


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


MODULES = sorted(PACKAGE.rglob("*.py"))
PIPELINE = sorted((PACKAGE.parent / "pipeline").rglob("*.py"))


def test_the_walk_sees_the_stages() -> None:
    # A walk that found nothing would pass everything below.
    seen = {stage_of(module_name(p)) for p in MODULES}
    assert set(STAGES) <= seen
    render = imported(PACKAGE / "render" / "stage.py")
    assert {"vfx_double.face.crop", "vfx_double.face.track", "vfx_double.shot"} <= render
    assert "vfx_double.comp.colour_match" in imported(PACKAGE / "comp" / "stage.py")
    # a lazy relative import inside a function, two levels up, is seen and resolved
    lazy = "def f():\n    from ..comp.blend import comp_frame\n"
    assert "vfx_double.comp.blend" in imported(PACKAGE / "track" / "run.py", lazy)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_a_stage_imports_no_other_stage_and_layers_below_import_none(path: Path) -> None:
    name = module_name(path)
    if name.startswith(RUNNERS):
        return
    own = stage_of(name)
    foreign = sorted(m for m in imported(path) if stage_of(m) not in (None, own))
    assert not foreign, f"{name} imports {foreign}: move what they share under face/ or model/"


@pytest.mark.parametrize("path", PIPELINE, ids=lambda p: p.name)
def test_the_farm_pipeline_calls_stages_as_commands_and_imports_none(path: Path) -> None:
    text = path.read_text()
    found = {m for node in ast.walk(ast.parse(text)) if isinstance(node, ast.ImportFrom)
             for m in [node.module or ""]} | {a.name for node in ast.walk(ast.parse(text))
                                                if isinstance(node, ast.Import) for a in node.names}
    stages = sorted(m for m in found if stage_of(m))
    assert PIPELINE and not stages, f"{path.name} imports {stages}"


#: the only modules that may import ``nuke`` (DESIGN.md: one host adapter; Nuke's startup
#: scripts): the Nuke plugin's core, the library and the pipeline run without Nuke
NUKE_HOSTS = ("nuke_plugin/host.py", "nuke_plugin/init.py", "nuke_plugin/menu.py")


def _imports_nuke(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                 else [])
        if any(n == "nuke" or n.startswith("nuke.") for n in names):
            return True
    return False


def test_only_the_host_adapter_and_nukes_startup_scripts_import_nuke() -> None:
    root = PACKAGE.parent
    sources = [p for d in ("vfx_double", "pipeline", "nuke_plugin")
               for p in sorted((root / d).rglob("*.py"))]
    importers = sorted(str(p.relative_to(root)) for p in sources if _imports_nuke(p))
    assert set(importers) <= set(NUKE_HOSTS), f"{importers}: only {NUKE_HOSTS} may import nuke"
    # the walk sees an import where there is one (a rule that matched nothing would pass)
    assert "nuke_plugin/host.py" in importers
