"""Plot of the per-stream gradient norms over training, NAF against concat fusion."""

import json
import os
from typing import List

# Fixed colours, so a stream keeps its colour in a panel where another one is absent
# (concat fusion has no fusion parameters).
GROUP_COLORS = {
    "alpha": "tab:blue",
    "beta": "tab:orange",
    "gamma": "tab:green",
    "fusion": "tab:red",
    "embeddings": "tab:purple",
}


def plot_gradient_norms(runs_dir: str, run_names: List[str], path: str) -> bool:
    """One panel per run: gradient norm of each stream per recorded step. False when no
    run recorded norms (or matplotlib is missing)."""
    histories = []
    for name in run_names:
        metrics = os.path.join(runs_dir, name, "metrics.json")
        if not os.path.isfile(metrics):
            continue
        with open(metrics) as f:
            norms = (json.load(f).get("gradient_norms") or {}).get("history")
        if norms:
            histories.append((name, norms))
    if not histories:
        return False
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(histories), figsize=(5 * len(histories), 3.6), sharey=True, squeeze=False
    )
    for ax, (name, norms) in zip(axes[0], histories):
        for group, color in GROUP_COLORS.items():
            if group in norms:
                ax.plot(norms["step"], norms[group], label=group, color=color)
        ax.legend(fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(name)
    axes[0][0].set_ylabel("gradient L2 norm")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
