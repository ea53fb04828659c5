"""Choosing the checkpoint to resume from, with a stand-in for the loading."""

import os
import tempfile
import unittest
from typing import List
from unittest import mock

from torchrec_dlf.training.checkpoint import (
    STATE_FILE,
    CheckpointManager,
    DamagedCheckpoint,
)
from torchrec_dlf.training.resume import ResumePoint, find_resume_point
from torchrec_dlf.user_errors import ConfigError


def _point(path: str) -> ResumePoint:
    return ResumePoint(path, {}, mock.Mock())


class FindResumePointTest(unittest.TestCase):
    def setUp(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.checkpoints = CheckpointManager(self._dir.name)
        self.warnings: List[str] = []

    def tearDown(self) -> None:
        self._dir.cleanup()

    def _steps(self, *steps: int) -> None:
        for step in steps:
            path = self.checkpoints.step_path(step)
            os.makedirs(path)
            with open(os.path.join(path, STATE_FILE), "w") as f:
                f.write("{}")

    def _find(self, resume: str, load=_point):  # pyre-ignore[2,3]
        return find_resume_point(resume, self.checkpoints, load, self.warnings.append)

    def test_nothing_to_resume(self) -> None:
        self.assertIsNone(self._find("auto"))
        self._steps(3)
        self.assertIsNone(self._find("never"))
        self.assertIsNone(find_resume_point("auto", None, _point, print))

    def test_auto_takes_the_latest(self) -> None:
        self._steps(3, 10)
        self.assertEqual(self._find("auto").path, self.checkpoints.step_path(10))

    def test_a_path_is_loaded_as_given(self) -> None:
        self.assertEqual(
            self._find("/some/step_000000003").path, "/some/step_000000003"
        )

    def test_a_path_needs_a_checkpoint_dir(self) -> None:
        with self.assertRaisesRegex(ConfigError, "--checkpoint_dir"):
            find_resume_point("/some/path", None, _point, print)

    def test_damaged_latest_falls_back_to_the_previous(self) -> None:
        self._steps(3, 10)
        latest = self.checkpoints.step_path(10)

        def load(path: str) -> ResumePoint:
            if path == latest:
                raise DamagedCheckpoint(f"{path}: cannot be read")
            return _point(path)

        self.assertEqual(self._find("auto", load).path, self.checkpoints.step_path(3))
        self.assertEqual(len(self.warnings), 1)
        self.assertIn("trying the previous checkpoint", self.warnings[0])

    def test_all_damaged(self) -> None:
        self._steps(3, 10)

        def load(path: str) -> ResumePoint:
            raise DamagedCheckpoint(path)

        with self.assertRaisesRegex(DamagedCheckpoint, r"among steps \[3, 10\]"):
            self._find("auto", load)


if __name__ == "__main__":
    unittest.main()
