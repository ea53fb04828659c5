"""The package's layers (docs/architecture.md): a module imports only from its own
layer or from lower ones, never from a higher one."""

import ast
import os
import tempfile
import unittest
from typing import Dict, List, Tuple

from tests.scripts import ROOT

PACKAGE = os.path.join(ROOT, "torchrec_dlf")
# Lowest first; the top-level name (module or subpackage) under torchrec_dlf/.
LAYERS: List[Tuple[str, ...]] = [
    ("version", "user_errors", "safe_output", "background_iterator", "host_allocator"),
    ("modules",),
    (
        "models",
        "interaction_arch",
        "dlrm_dlf",
        "dlrm_dcnv2",
        "dlrm_deepfm",
        "first_order",
    ),
    ("data",),
    ("preprocessing",),
    ("training",),
    ("inference",),
    ("experiments", "benchmarks"),
    # `python -m torchrec_dlf.<name>` entry points
    ("train", "predict", "export", "prepare", "experiment", "main_job")
    + ("bench_data", "bench_embeddings", "bench_model"),
]
LAYER_OF: Dict[str, int] = {name: i for i, names in enumerate(LAYERS) for name in names}


def _top(path: str, package: str) -> str:
    first = os.path.relpath(path, package).split(os.sep)[0]
    return first[: -len(".py")] if first.endswith(".py") else first


def _imports(path: str) -> List[Tuple[int, str]]:
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.startswith("torchrec_dlf.")]
    return found


def layer_violations(package: str = PACKAGE) -> List[str]:
    """``file:line imports module (layer a -> b)`` for every upward import."""
    problems = []
    for base, _dirs, files in os.walk(package):
        for name in sorted(files):
            path = os.path.join(base, name)
            top = _top(path, package)
            if not name.endswith(".py") or top == "__init__":
                continue
            here = LAYER_OF.get(top)
            if here is None:
                problems.append(f"{path}: {top} is in no layer")
                continue
            for line, module in _imports(path):
                there = LAYER_OF.get(module.split(".")[1])
                if there is None:
                    problems.append(
                        f"{path}:{line} imports {module}, which is in no layer"
                    )
                elif there > here:
                    problems.append(
                        f"{path}:{line} imports {module} (layer {here} -> {there})"
                    )
    return problems


class LayerTest(unittest.TestCase):
    def test_no_upward_imports(self) -> None:
        self.assertEqual(layer_violations(), [])

    def test_every_top_level_name_has_a_layer(self) -> None:
        names = {
            n[: -len(".py")] if n.endswith(".py") else n
            for n in os.listdir(PACKAGE)
            if n != "__init__.py" and not n.startswith((".", "__pycache__"))
        }
        self.assertEqual(sorted(names - set(LAYER_OF)), [])

    def test_an_upward_import_is_reported(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "writer.py"), "w") as f:
                f.write(
                    "import os\nfrom torchrec_dlf.training.trainer import Trainer\n"
                )
            with open(os.path.join(d, "data", "fine.py"), "w") as f:
                f.write("from torchrec_dlf.modules.block_mlp import BlockMLP\n")
            self.assertEqual(
                layer_violations(d),
                [
                    f"{d}/data/writer.py:2 imports torchrec_dlf.training.trainer "
                    f"(layer 3 -> 5)"
                ],
            )


if __name__ == "__main__":
    unittest.main()
