"""Smoke run of torchrec_dlf.benchmarks.loader_throughput: both loaders, JSON written."""

import json
import os
import tempfile
import unittest

from tests.data.helpers import write_indexed_dataset
from torchrec_dlf.benchmarks.loader_throughput import main


class LoaderThroughputSmokeTest(unittest.TestCase):
    def test_thread_and_workers_measured(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            write_indexed_dataset(os.path.join(d, "ds"), {"train": 256})
            out = os.path.join(d, "loader.json")
            argv = [os.path.join(d, "ds"), "--batch_size", "32", "--rounds", "1"]
            self.assertEqual(main(argv + ["--workers", "0", "1", "--json", out]), 0)
            with open(out) as f:
                result = json.load(f)
        self.assertEqual(set(result["loader_workers"]), {"0", "1"})
        self.assertEqual(result["batches"], 8)
        self.assertEqual(result["loader_workers"]["0"]["speed_vs_first"], 1.0)
        self.assertGreater(result["loader_workers"]["1"]["batches_per_second"], 0)
