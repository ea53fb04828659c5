"""Where a training step's time goes, read from a ``--profile`` trace: the embedding
lookups and updates (FBGEMM's kernels), the all-to-alls of the pooled embeddings, the
dense forward and backward, the optimizers and the pipeline around them.

    python -m torchrec_dlf.training.step_breakdown results/<run>/profile/rank0.*.json
"""

import argparse
import json
import sys
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

# Parts of a step, in the order they are printed.
PARTS = (
    "embedding",
    "all_to_all",
    "dense_forward",
    "dense_backward",
    "optimizer",
    "pipeline",
)
DESCRIPTIONS = {
    "embedding": "embedding lookups and fused updates (FBGEMM's kernels)",
    "all_to_all": "pooled embeddings' all-to-all (waits for the other ranks too)",
    "dense_forward": "dense forward (dense, interaction and over archs, loss)",
    "dense_backward": "dense backward (with DDP's all-reduce waits)",
    "optimizer": "optimizer step and zero_grad",
    "pipeline": "pipeline: input distribution, batch copy, metrics, the rest",
}


def _embedding_part(name: str) -> Optional[str]:
    if name.startswith("fbgemm::"):
        return "embedding"
    if "All2All" in name:
        return "all_to_all"
    return None


def _main_thread_events(trace: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Complete events of the thread that ran the profiled steps, by start time
    (outer events before the events they contain)."""
    events = [e for e in trace["traceEvents"] if e.get("ph") == "X" and "dur" in e]
    steps = [e for e in events if str(e["name"]).startswith("ProfilerStep#")]
    if not steps:
        raise ValueError("no ProfilerStep in the trace (not a --profile trace?)")
    thread = Counter(e["tid"] for e in steps).most_common(1)[0][0]
    mine = [e for e in events if e["tid"] == thread]
    return sorted(mine, key=lambda e: (e["ts"], -e["dur"]))


def _children(
    parent: Dict[str, Any], events: List[Dict[str, Any]], start: int
) -> List[Dict[str, Any]]:
    """The outermost events inside ``parent`` (``events[start:]`` begin after it)."""
    end = parent["ts"] + parent["dur"]
    out: List[Dict[str, Any]] = []
    covered = -1.0
    for e in events[start:]:
        if e["ts"] >= end:
            break
        if e is parent or e["ts"] < covered or e["ts"] + e["dur"] > end:
            continue
        out.append(e)
        covered = e["ts"] + e["dur"]
    return out


def _embedding_time(
    region: Dict[str, Any], events: List[Dict[str, Any]], start: int
) -> Dict[str, float]:
    """Time inside ``region`` in its outermost embedding events, by part."""
    end = region["ts"] + region["dur"]
    total = {"embedding": 0.0, "all_to_all": 0.0}
    covered = -1.0
    for e in events[start:]:
        if e["ts"] >= end:
            break
        part = _embedding_part(str(e["name"]))
        if e["ts"] < covered or part is None:
            continue
        total[part] += min(e["ts"] + e["dur"], end) - e["ts"]
        covered = e["ts"] + e["dur"]
    return total


def step_breakdown(trace: Dict[str, Any]) -> Dict[str, Any]:
    """
    Seconds per part (`PARTS`), summed over the trace's profiled steps, with
    ``steps`` (their count) and ``step_seconds`` (their total).

    Each ProfilerStep is split by the regions TorchRec's pipeline records in it
    (``## forward ##``, ``## backward ##``, ``## optimizer ##``, ``## zero_grad ##``,
    the rest); inside forward and backward, FBGEMM's operators are the embedding part,
    TorchRec's all-to-alls of pooled embeddings the all_to_all part (a rank waits there
    for slower ranks as well), the remainder the dense part. Time of a step outside any region
    counts as pipeline.
    """
    events = _main_thread_events(trace)
    index = {id(e): i for i, e in enumerate(events)}
    parts = dict.fromkeys(PARTS, 0.0)
    steps = [e for e in events if str(e["name"]).startswith("ProfilerStep#")]
    for step in steps:
        regions = _children(step, events, index[id(step)])
        accounted = 0.0
        for region in regions:
            name, dur = str(region["name"]), float(region["dur"])
            accounted += dur
            if name.startswith("## forward") or name.startswith("## backward"):
                inside = _embedding_time(region, events, index[id(region)] + 1)
                dense = "dense_forward" if "forward" in name else "dense_backward"
                for part, seconds in inside.items():
                    parts[part] += seconds
                parts[dense] += dur - sum(inside.values())
            elif name.startswith("## optimizer") or name.startswith("## zero_grad"):
                parts["optimizer"] += dur
            else:
                parts["pipeline"] += dur
        parts["pipeline"] += float(step["dur"]) - accounted
    result: Dict[str, Any] = {k: v / 1e6 for k, v in parts.items()}
    result["steps"] = len(steps)
    result["step_seconds"] = sum(float(s["dur"]) for s in steps) / 1e6
    return result


def format_breakdown(breakdown: Dict[str, Any]) -> str:
    """A table: milliseconds per step and share of the step, per part."""
    steps = max(int(breakdown["steps"]), 1)
    total = breakdown["step_seconds"] or 1.0
    lines = [f"{'part':<16} {'ms/step':>9} {'share':>6}  what"]
    for part in PARTS:
        seconds = breakdown[part]
        lines.append(
            f"{part:<16} {1e3 * seconds / steps:>9.1f} {seconds / total:>6.1%}  "
            f"{DESCRIPTIONS[part]}"
        )
    lines.append(f"{'step':<16} {1e3 * total / steps:>9.1f} {1.0:>6.1%}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("traces", nargs="+", help="--profile traces (*.pt.trace.json)")
    p.add_argument("--json", action="store_true", help="print JSON instead")
    args = p.parse_args(argv)
    results = {}
    for path in args.traces:
        with open(path) as f:
            results[path] = step_breakdown(json.load(f))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for path, breakdown in results.items():
            print(f"{path}: {breakdown['steps']} step(s)")
            print(format_breakdown(breakdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
