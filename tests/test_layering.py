"""The architecture, enforced: each layer imports only the layers below it, with no cycles.

The table is the one in docs/ARCHITECTURE.md. Every import counts, including those inside
functions: a lazy import that breaks a layer is still a broken layer.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "inspatio_gym"

#: layer -> the project modules it may import (a subpackage, or one module of it)
ALLOWED: dict[str, set[str]] = {
    "io": set(),
    "geometry": {"io"},
    "scenes": {"io", "geometry.camera"},  # camera conventions are shared by everything that renders
    "model": {"io"},
    "recon": {"io", "geometry"},
    "world": {"io", "geometry", "scenes", "recon"},
    "control": {"io", "geometry", "world"},
    "render": {"io", "geometry", "world"},
    "backends": {"io", "geometry", "world", "render", "model"},
    "tasks": {"io", "geometry", "world", "control"},
    "envs": {"io", "geometry", "world", "control", "render", "backends", "tasks"},
    "train": {"io", "geometry", "scenes", "world", "recon", "render", "model"},
    "eval": {"io", "geometry", "scenes", "world", "render", "backends", "model", "recon"},  # recon: poses re-estimated by SfM
    "registration": set(),
    "rollout": {"io", "geometry", "envs"},
    "eval_suite": {"io", "geometry", "world", "recon", "backends", "eval", "envs"},  # walks worlds through the envs
    "integrations": {"envs"},
    "viewer": {"io", "envs"},  # the live viewers sit on the envs, like a user's script  # RL engines that are not Gymnasium-native: through the envs only
    "cli": {"*"},  # the command line sits on top of everything
    "__main__": {"cli"},
    "__init__": {"*"},  # imports lazily, by name (checked below)
}

#: third-party packages the model may use: it must run without gymnasium or the env stack
MODEL_THIRD_PARTY = {"torch", "numpy", "safetensors"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file; project modules without the prefix."""
    mod = _module_name(path)
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(["inspatio_gym", *base, *([node.module] if node.module else [])])
                # `from . import x` imports the submodule x
                out += [(node.lineno, name)] if node.module else [(node.lineno, f"{name}.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module or ""))
    return out


def _layer(mod: str) -> str:
    return mod.split(".")[0]


def _project_edges() -> list[tuple[str, int, str, str]]:
    """(file, line, importing module, imported project module without the package prefix)."""
    edges = []
    for path in sorted(PKG.rglob("*.py")):
        mod = _module_name(path)
        for line, name in _imports(path):
            if name == "inspatio_gym" or name.startswith("inspatio_gym."):
                target = name[len("inspatio_gym."):] if name != "inspatio_gym" else "__init__"
                edges.append((str(path.relative_to(PKG.parent)), line, mod, target))
    return edges


def _allowed(layer: str, target: str) -> bool:
    rules = ALLOWED[layer]
    if "*" in rules or _layer(target) == layer:
        return True
    return any(target == r or target.startswith(r + ".") or _layer(target) == r and "." not in r for r in rules)


def test_every_layer_is_in_the_table():
    layers = {_layer(_module_name(p)) for p in PKG.rglob("*.py")}
    assert layers <= set(ALLOWED), f"layers missing from the table: {sorted(layers - set(ALLOWED))}"


def test_layers_import_only_what_the_table_allows():
    bad = [f"{f}:{line}: {mod} imports inspatio_gym.{target} (layer {_layer(mod)!r} may import "
           f"{sorted(ALLOWED[_layer(mod)])})"
           for f, line, mod, target in _project_edges() if not _allowed(_layer(mod), target)]
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_no_cycles_between_subpackages():
    graph: dict[str, set[str]] = {}
    for _, _, mod, target in _project_edges():
        a, b = _layer(mod), _layer(target)
        if a != b and a != "__init__":
            graph.setdefault(a, set()).add(b)
    seen: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [node, nxt]))
            if nxt not in seen:
                visit(nxt, stack + [node])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [])


def test_model_uses_only_torch_numpy_safetensors():
    bad = []
    for path in sorted((PKG / "model").rglob("*.py")):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in MODEL_THIRD_PARTY or top == "inspatio_gym":
                continue
            bad.append(f"{path.relative_to(PKG.parent)}:{line}: imports {name}")
    assert not bad, "\n".join(bad)


def test_package_root_imports_lazily():
    """The root's module-level imports are the standard library only; the API is by name."""
    tree = ast.parse((PKG / "__init__.py").read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom) and n.module != "__future__"]
    assert all(n.split(".")[0] in sys.stdlib_module_names for n in names), names


def test_layer_checker_catches_a_violation(tmp_path):
    """The checker itself: a model file importing the env layer is reported with its line."""
    f = tmp_path / "inspatio_gym" / "model" / "bad.py"
    f.parent.mkdir(parents=True)
    f.write_text("import torch\nfrom ..envs.world_env import WorldEnv\n")
    global PKG
    saved, PKG = PKG, tmp_path / "inspatio_gym"
    try:
        edges = _project_edges()
    finally:
        PKG = saved
    assert edges == [("inspatio_gym/model/bad.py", 2, "model.bad", "envs.world_env")]
    assert not _allowed("model", "envs.world_env") and _allowed("model", "io.atomic")
    assert _allowed("scenes", "geometry.camera") and not _allowed("scenes", "geometry.warp")


def test_importing_the_model_does_not_load_the_env_stack():
    code = ("import sys, inspatio_gym.model;"
            "bad = [m for m in ('gymnasium', 'inspatio_gym.envs', 'inspatio_gym.world', 'inspatio_gym.backends')"
            " if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_gym_make_works_in_either_import_order():
    for code in ("import inspatio_gym, gymnasium as gym; gym.make('InspatioWorld-v0')",
                 "import gymnasium as gym, inspatio_gym; gym.make('InspatioWorld-v0')",
                 "import inspatio_gym.model, gymnasium as gym; gym.make('InspatioPointNav-v0')"):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode == 0, f"{code}\n{proc.stderr}"
