"""What an experiment runs: the spec file (dataset, models, seeds, training flags) and
the name of each (model, seed) run."""

import json
from dataclasses import dataclass, field
from typing import Dict, List

from torchrec_dlf.experiments.model_specs import DLF_FAMILY, MODELS


@dataclass
class ExperimentSpec:
    """
    What to run: the common train.py flags, per-model flags (tuned on validation), the
    models and the seeds. Loaded from a JSON file like ``experiments/frappe_x1.json``.
    """

    name: str
    dataset_dir: str
    models: List[str]
    seeds: List[int]
    common: List[str] = field(default_factory=list)
    per_model: Dict[str, List[str]] = field(default_factory=dict)
    # Extra named models (e.g. hyperparameter candidates): name -> complete flags.
    variants: Dict[str, List[str]] = field(default_factory=dict)
    notes: str = ""

    @classmethod
    def load(cls, path: str) -> "ExperimentSpec":
        with open(path) as f:
            raw = json.load(f)
        spec = cls(**raw)
        unknown = [m for m in spec.models if m not in MODELS and m not in spec.variants]
        if unknown:
            raise ValueError(
                f"{path}: unknown models {unknown}; known: {sorted(MODELS)}"
            )
        return spec

    def flags(self, model: str) -> List[str]:
        if model in self.variants:
            return list(self.common) + list(self.variants[model])
        extra = list(self.per_model.get(model, []))
        if model in DLF_FAMILY and model != "dlf":
            # Ablations share DLF's tuned settings; the ablation switch comes last.
            extra = list(self.per_model.get("dlf", [])) + extra
        return list(self.common) + extra + MODELS[model]


def run_name(model: str, seed: int) -> str:
    return f"{model}-seed{seed}"
