import json
import os
import subprocess
import sys
import tempfile
import unittest

from torchrec_dlf.training.step_breakdown import PARTS, format_breakdown, step_breakdown


def _event(name: str, ts: float, dur: float, tid: int = 1) -> dict:
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid}


# One 100 us step: forward 40 (12 of them FBGEMM's lookup with an all-to-all inside
# it, counted once, then a 4 us all-to-all wait), backward 30 (5 of them the fused
# embedding update), optimizer 10, input distribution 5 and 15 us outside any region;
# events of another thread and outside the step are not counted.
TRACE = {
    "traceEvents": [
        _event("ProfilerStep#2", 0, 100),
        _event("## forward 2 ##", 0, 40),
        _event("aten::mm", 1, 10),
        _event("fbgemm::split_embedding_codegen_forward_cpu", 20, 12),
        _event("All2All_Pooled_Wait", 25, 3),
        _event("All2All_Pooled_Wait", 34, 4),
        _event("## backward 2 ##", 40, 30),
        _event("fbgemm::split_embedding_backward_codegen_rowwise_adagrad_cpu", 60, 5),
        _event("## optimizer 2 ##", 70, 10),
        _event("## start_sparse_data_dist 3 ##", 80, 5),
        _event("aten::mm", 0, 90, tid=2),
        _event("fbgemm::split_embedding_codegen_forward_cpu", 200, 50),
        {"ph": "i", "name": "marker", "ts": 3},
    ]
}


class StepBreakdownTest(unittest.TestCase):
    def test_parts_of_a_step(self) -> None:
        got = step_breakdown(TRACE)
        want = {
            "embedding": 17e-6,
            "all_to_all": 4e-6,
            "dense_forward": 24e-6,
            "dense_backward": 25e-6,
            "optimizer": 10e-6,
            "pipeline": 20e-6,
        }
        for part in PARTS:
            self.assertAlmostEqual(got[part], want[part], places=12, msg=part)
        self.assertEqual(got["steps"], 1)
        self.assertAlmostEqual(got["step_seconds"], 100e-6, places=12)
        table = format_breakdown(got)
        self.assertIn("embedding", table)
        self.assertIn("17.0%", table)

    def test_not_a_profile_trace(self) -> None:
        with self.assertRaisesRegex(ValueError, "no ProfilerStep"):
            step_breakdown({"traceEvents": [_event("aten::mm", 0, 1)]})

    def test_command_line(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rank0.pt.trace.json")
            with open(path, "w") as f:
                json.dump(TRACE, f)
            done = subprocess.run(
                [sys.executable, "-m", "torchrec_dlf.training.step_breakdown", path],
                capture_output=True,
                text=True,
            )
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertRegex(done.stdout, r"\ndense_backward +0\.0 +25\.0%  dense")


if __name__ == "__main__":
    unittest.main()
