"""The job's log lines: rank prefixes, and --verbose showing the libraries' logs."""

import contextlib
import io
import logging
import unittest

import torch

from torchrec_dlf.training.distributed import DistributedContext
from torchrec_dlf.training.job_logging import configure_logging
from torchrec_dlf.training.quiet import quiet_library_messages
from torchrec_dlf.training.report import say, train_progress_line


def _ctx(rank: int) -> DistributedContext:
    return DistributedContext(rank, 2, rank, 2, torch.device("cpu"), "gloo")


def _said(verbose: bool) -> str:
    configure_logging(rank=0, verbose=verbose)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        say(_ctx(0), "epoch 0 step 5: train loss 0.5")
        say(_ctx(1), "epoch 0 step 5: train loss 0.6")
    return out.getvalue()


class JobLoggingTest(unittest.TestCase):
    def tearDown(self) -> None:
        configure_logging(rank=0, verbose=False)
        quiet_library_messages()

    def test_rank_zero_lines_are_unchanged_other_ranks_need_verbose(self) -> None:
        self.assertEqual(_said(False), "epoch 0 step 5: train loss 0.5\n")
        self.assertEqual(
            _said(True),
            "epoch 0 step 5: train loss 0.5\n[rank 1] epoch 0 step 5: train loss 0.6\n",
        )

    def test_verbose_shows_torchrecs_own_logs(self) -> None:
        quiet_library_messages()
        planner = logging.getLogger("torchrec.distributed.planner.stats")
        for verbose, want in ((False, ""), (True, "[rank 3] INFO ")):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                configure_logging(rank=3, verbose=verbose)
                planner.info("sharding plan stats")
            self.assertTrue(err.getvalue().startswith(want), err.getvalue())
            self.assertEqual("sharding plan stats" in err.getvalue(), verbose)

    def test_train_progress_line(self) -> None:
        line = train_progress_line(
            200,
            {
                "loss": 0.45,
                "window_ne": 0.8,
                "window_auc": 0.75,
                "window_calibration": 1.01,
                "samples_per_second": 12345.6,
            },
            {"embedding": 0.05, "dense": 1e-3},
        )
        self.assertEqual(
            line,
            "step 200: train loss 0.45000, window NE 0.80000 AUC 0.75000 calibration "
            "1.01000, 12,346 samples/s, lr embedding 0.05, dense 0.001",
        )


if __name__ == "__main__":
    unittest.main()
