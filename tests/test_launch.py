"""The entry points: ``python -m torchrec_dlf.<name>`` from outside the checkout, the thin
launch/ and datasets/ files (no ``sys.path`` edits), the launch line users type (TorchX
dry runs of ``torchx run dist.ddp -j 2x8 launch/train.py``), and real TorchX launches on
the local_cwd scheduler: simulated multi-node, and a rank killed mid-run that the job
survives by restarting from its last checkpoint."""

import ast
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from typing import List, Optional, Tuple

import pytest

from tests.scripts import ROOT, run_module, run_script, script_env, tiny_dlf_flags
from torchrec_dlf.data.synthetic import SyntheticConfig, generate
from torchrec_dlf.main_job import TRAIN_MODULE, Launch, _torchx_env, torchx_command
from torchrec_dlf.train import script_arguments
from torchrec_dlf.training.checkpoint import STATE_FILE
from torchrec_dlf.user_errors import ConfigError

DATA = SyntheticConfig(
    train_rows=24000,
    valid_rows=4000,
    test_rows=4000,
    num_numeric=4,
    num_categorical=8,
    max_vocab=300,
    seed=9,
)
MODEL = tiny_dlf_flags()


def _worker_pid(marker: str, rank: int) -> Optional[int]:
    """PID of the training process of ``rank`` whose command line contains ``marker``."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            if "launch/train.py" not in cmd or marker not in cmd or "torchrun" in cmd:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(
                    kv.split("=", 1)
                    for kv in f.read().decode(errors="replace").split("\0")
                    if "=" in kv
                )
            if env.get("RANK") == str(rank) and "LOCAL_RANK" in env:
                return int(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
            continue
    return None


THIN_FILES = sorted(
    glob.glob(os.path.join(ROOT, "launch", "*.py"))
    + glob.glob(os.path.join(ROOT, "datasets", "*.py"))
)


def sys_path_edits(source: str, name: str = "<source>") -> List[str]:
    """``name:line`` of every use of ``sys.path``, ``site.addsitedir`` or
    ``PYTHONPATH`` in ``source`` (an entry point has no reason to touch them)."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in (("sys", "path"), ("site", "addsitedir")):
                found.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("sys", "site"):
            for alias in node.names:
                if alias.name in ("path", "addsitedir"):
                    found.append(f"{name}:{node.lineno} from {node.module} import")
        elif isinstance(node, ast.Constant) and node.value == "PYTHONPATH":
            found.append(f"{name}:{node.lineno} PYTHONPATH")
    return found


def setup_entry_points() -> List[str]:
    """``ENTRY_POINTS`` of setup.py: the modules behind the console scripts."""
    with open(os.path.join(ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "ENTRY_POINTS":
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no ENTRY_POINTS")


class EntryPointFilesTest(unittest.TestCase):
    def test_no_file_in_launch_or_datasets_edits_sys_path(self) -> None:
        self.assertGreaterEqual(len(THIN_FILES), 9)
        problems = []
        for path in THIN_FILES:
            with open(path) as f:
                problems += sys_path_edits(f.read(), os.path.relpath(path, ROOT))
        self.assertEqual(problems, [])

    def test_the_check_finds_an_edit(self) -> None:
        for source in (
            "import os, sys\nsys.path.insert(0, os.getcwd())\n",
            "import sys\nsys.path = ['.'] + sys.path\n",
            "from sys import path\npath.append('..')\n",
            "import site\nsite.addsitedir('..')\n",
            "import os\nos.environ['PYTHONPATH'] = '..'\n",
        ):
            self.assertTrue(sys_path_edits(source), source)
        self.assertEqual(sys_path_edits("import sys\nsys.exit(0)\n"), [])

    def test_each_file_runs_an_installed_module(self) -> None:
        modules = set(setup_entry_points())
        for path in THIN_FILES:
            if os.path.basename(path) == "components.py":  # the TorchX component
                continue
            with open(path) as f:
                tree = ast.parse(f.read())
            imported = [
                n.module
                for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.module
            ]
            entry = [m for m in imported if m.startswith("torchrec_dlf.")]
            self.assertEqual(len(entry), 1, (path, imported))
            self.assertIn(entry[0].split(".", 1)[1], modules, path)

    def test_console_scripts_name_modules_with_a_main(self) -> None:
        for name in setup_entry_points():
            path = os.path.join(ROOT, "torchrec_dlf", f"{name}.py")
            with open(path) as f:
                tree = ast.parse(f.read())
            functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            self.assertIn("main", functions, path)


@pytest.mark.e2e
class InstalledModulesTest(unittest.TestCase):
    """The installed package alone, from a directory outside the checkout."""

    def test_train_help_outside_the_checkout(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            done = run_module("torchrec_dlf.train", ["--help"], cwd=d, timeout=300)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        self.assertIn("--interaction_type", done.stdout)
        self.assertIn("usage: train.py", done.stdout)

    def test_launch_files_run_from_another_directory(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            for script, flag in (
                ("launch/train.py", "--interaction_type"),
                ("launch/experiment.py", "--report_only"),
                ("datasets/prepare.py", "criteo"),
            ):
                env = script_env()
                env.pop("PYTHONPATH", None)
                done = subprocess.run(
                    [sys.executable, os.path.join(ROOT, script), "--help"],
                    cwd=d,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                self.assertEqual(done.returncode, 0, (script, done.stderr[-3000:]))
                self.assertIn(flag, done.stdout, script)


class MainJobCommandTest(unittest.TestCase):
    def test_torchx_runs_the_module_or_the_launch_script(self) -> None:
        cmd = torchx_command("1x2", ["--epochs", "1"])
        self.assertEqual(cmd[1:7], ["run", "-s", "local_cwd", "dist.ddp", "-j", "1x2"])
        self.assertEqual(cmd[7:], [*TRAIN_MODULE, "--", "--epochs", "1"])
        self.assertEqual(TRAIN_MODULE, ["-m", "torchrec_dlf.train"])
        # launch/main_job.py (`make train`): the command it has always printed.
        launch = Launch(["--script", "launch/train.py"], scheduler=None)
        cmd = torchx_command("1x2", ["--epochs", "1"], launch)
        self.assertEqual(
            cmd[1:],
            ["run", "dist.ddp", "-j", "1x2", "--script", "launch/train.py"]
            + ["--", "--epochs", "1"],
        )

    def test_module_launch_reads_no_torchxconfig(self) -> None:
        # The checkout's .torchxconfig sets dist.ddp's --script, which TorchX refuses
        # beside -m: the main job's module launch works from the checkout too.
        with _torchx_env(Launch(TRAIN_MODULE)) as env:
            with open(env["TORCHXCONFIG"]) as f:
                self.assertNotIn("[", f.read())
            cmd = torchx_command("1x2", ["--epochs", "1"])
            cmd.insert(2, "--dryrun")
            done = subprocess.run(
                cmd, cwd=ROOT, env={**script_env(), "TORCHXCONFIG": env["TORCHXCONFIG"]},
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        _, command = dryrun_job(done.stdout)
        self.assertEqual(torchrun_entry(command)[1][:2], TRAIN_MODULE)
        script = Launch(["--script", "launch/train.py"], scheduler=None)
        with _torchx_env(script) as env:
            self.assertEqual(env.get("TORCHXCONFIG"), os.environ.get("TORCHXCONFIG"))


def torchx_dryrun(argv: List[str], cwd: str = ROOT) -> subprocess.CompletedProcess:
    """``torchx run --dryrun <argv>`` in ``cwd`` (the checkout: its .torchxconfig)."""
    return subprocess.run(
        ["torchx", "run", "--dryrun", *argv],
        cwd=cwd,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def dryrun_job(output: str) -> Tuple[int, List[str]]:
    """The replicas and the torchrun command line of the one role of a dry run."""
    app = output.split("=== APPLICATION ===", 1)[1].split("=== SCHEDULER REQUEST", 1)[0]
    replicas = int(re.search(r"'num_replicas': (\d+)", app).group(1))
    args = ast.literal_eval(re.search(r"'args': (\[.*?\])", app, re.S).group(1))
    assert args[0] == "-c", args
    return replicas, shlex.split(args[1])


def torchrun_entry(command: List[str]) -> Tuple[dict, List[str]]:
    """torchrun's own options (up to ``--role``) and what it runs with its arguments."""
    assert command[0] == "torchrun", command
    role = command.index("--role")
    options = dict(zip(command[1:role:2], command[2:role:2]))
    return options, command[role + 2 :]


class LaunchLineTest(unittest.TestCase):
    """``torchx run dist.ddp -j 2x8 launch/train.py [-- <flags>]``: the line users type
    (dist.ddp's default ``--script launch/train.py`` comes from .torchxconfig)."""

    def _job(self, argv: List[str], cwd: str = ROOT) -> Tuple[int, dict, List[str]]:
        done = torchx_dryrun(argv, cwd)
        self.assertEqual(done.returncode, 0, (done.stdout + done.stderr)[-3000:])
        replicas, command = dryrun_job(done.stdout)
        options, entry = torchrun_entry(command)
        return replicas, options, entry

    def test_script_path_as_the_first_argument(self) -> None:
        for argv, flags in (
            (["dist.ddp", "-j", "2x8", "launch/train.py"], []),
            (
                ["dist.ddp", "-j", "2x8", "launch/train.py", "--", "--epochs", "1"],
                ["--epochs", "1"],
            ),
        ):
            replicas, options, entry = self._job(argv)
            self.assertEqual(replicas, 2, argv)
            self.assertEqual(options["--nnodes"], "2")
            self.assertEqual(options["--nproc_per_node"], "8")
            self.assertEqual(options["--rdzv_backend"], "c10d")
            # torchrun runs launch/train.py, given its own path and the flags...
            self.assertEqual(entry[0], "launch/train.py")
            self.assertEqual(entry[1], "launch/train.py")
            # ...which it drops, keeping exactly the flags.
            self.assertEqual(script_arguments(entry[0], entry[1:]), flags)

    def test_script_flag_as_before(self) -> None:
        replicas, options, entry = self._job(
            [
                "dist.ddp",
                "-j",
                "2x8",
                "--script",
                "launch/train.py",
                "--",
                "--epochs",
                "1",
            ]
        )
        self.assertEqual((replicas, options["--nproc_per_node"]), (2, "8"))
        self.assertEqual(entry, ["launch/train.py", "--epochs", "1"])

    def test_the_command_torchrun_runs_is_accepted_by_train_py(self) -> None:
        _, _, entry = self._job(
            ["dist.ddp", "-j", "2x8", "launch/train.py", "--", "--help"]
        )
        done = run_script(entry)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        self.assertIn("usage: train.py", done.stdout)
        self.assertIn("--interaction_type", done.stdout)

    def test_slurm_job_of_two_nodes_of_eight(self) -> None:
        done = torchx_dryrun(
            [
                "-s",
                "slurm",
                "dist.ddp",
                "-j",
                "2x8",
                "launch/train.py",
                "--",
                "--epochs",
                "1",
            ]
        )
        self.assertEqual(done.returncode, 0, (done.stdout + done.stderr)[-3000:])
        request = done.stdout.split("=== SCHEDULER REQUEST ===", 1)[1]
        # One heterogeneous job of two groups (nodes), each running torchrun with 8
        # processes of launch/train.py.
        self.assertEqual(request.count("#SBATCH hetjob"), 1)
        self.assertEqual(request.count("--nnodes 2 --nproc_per_node 8"), 2)
        self.assertEqual(
            request.count("launch/train.py launch/train.py -- --epochs 1"), 2
        )

    def test_module_launch_outside_the_checkout(self) -> None:
        # .torchxconfig's default --script is read only in the checkout; elsewhere
        # dist.ddp takes -m as TorchX documents it...
        with tempfile.TemporaryDirectory() as d:
            replicas, options, entry = self._job(
                ["-s", "local_cwd", "dist.ddp", "-j", "1x2", "-m", "torchrec_dlf.train"]
                + ["--", "--epochs", "1"],
                cwd=d,
            )
        self.assertEqual((replicas, options["--nproc_per_node"]), (1, "2"))
        self.assertEqual(entry, ["-m", "torchrec_dlf.train", "--epochs", "1"])
        # ...and in the checkout TorchX refuses -m beside that default (README says so).
        done = torchx_dryrun(["dist.ddp", "-j", "1x2", "-m", "torchrec_dlf.train"])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("exactly one of --script and -m", done.stderr)

    def test_another_script_path_is_one_line_and_exit_2(self) -> None:
        done = run_script(["launch/train.py", "launch/predict.py", "--epochs", "1"])
        self.assertEqual(done.returncode, 2, done.stderr[-3000:])
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertTrue(
            lines[0].startswith("error: launch/predict.py given before the flags"),
            lines[0],
        )
        self.assertIn("--script launch/predict.py", lines[0])


class ScriptArgumentsTest(unittest.TestCase):
    def test_own_path_and_the_separator_after_it_are_dropped(self) -> None:
        script = "launch/train.py"
        absolute = os.path.join(ROOT, script)
        cwd = os.getcwd()
        os.chdir(ROOT)
        try:
            for first in (script, "./launch/train.py", absolute):
                self.assertEqual(
                    script_arguments(script, [first, "--", "--epochs", "1"]),
                    ["--epochs", "1"],
                )
                self.assertEqual(
                    script_arguments(script, [first, "--epochs", "1"]),
                    ["--epochs", "1"],
                )
                self.assertEqual(script_arguments(absolute, [first]), [])
        finally:
            os.chdir(cwd)

    def test_flags_stay_as_they_are(self) -> None:
        for argv in ([], ["--epochs", "1"], ["--", "--epochs", "1"], ["-h"]):
            self.assertEqual(script_arguments("launch/train.py", argv), argv)

    def test_another_script_is_refused_in_one_line(self) -> None:
        for other, missing in (
            (os.path.join(ROOT, "launch", "predict.py"), False),
            (os.path.join(ROOT, "lauch", "train.py"), True),
        ):
            with self.assertRaises(ConfigError) as raised:
                script_arguments(os.path.join(ROOT, "launch/train.py"), [other])
            message = str(raised.exception)
            self.assertNotIn("\n", message)
            self.assertIn(f"--script {other}", message)
            self.assertEqual("(no such file)" in message, missing, message)
            self.assertTrue(getattr(raised.exception, "before_process_group", False))


@pytest.mark.e2e
class TorchXLaunchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.mkdtemp()
        cls.data = os.path.join(cls._tmp, "data")
        generate(DATA, cls.data)

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls._tmp, ignore_errors=True)

    def _metrics(self, out: str, run: str) -> dict:
        with open(os.path.join(out, run, "metrics.json")) as f:
            return json.load(f)

    def test_two_simulated_nodes_of_two(self) -> None:
        out = os.path.join(self._tmp, "2x2")
        done = run_script(
            [
                "torchx",
                "run",
                "dist.ddp",
                "-j",
                "2x2",
                "--script",
                "launch/train.py",
                "--",
                "--dataset_dir",
                self.data,
                "--output_dir",
                out,
                "--run_name",
                "run",
                "--limit_train_batches",
                "10",
                *MODEL,
            ]
        )
        log = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, log[-4000:])
        self.assertIn("SUCCEEDED", log)
        metrics = self._metrics(out, "run")
        self.assertEqual(metrics["world_size"], 4)
        self.assertEqual(metrics["steps"], 10)
        self.assertEqual(metrics["test"]["rows"], 4000)

    def test_killed_rank_restarts_from_the_last_checkpoint(self) -> None:
        out = os.path.join(self._tmp, "kill")
        ckpt = os.path.join(self._tmp, "kill_ckpt")
        args = [
            "--dataset_dir",
            self.data,
            "--output_dir",
            out,
            "--epochs",
            "2",
            "--checkpoint_every_n_steps",
            "10",
            *MODEL,
        ]
        reference = run_script(
            [
                "torchx",
                "run",
                "launch/components.py:train",
                "-j",
                "1x2",
                "--",
                *args,
                "--run_name",
                "reference",
                "--checkpoint_dir",
                os.path.join(self._tmp, "ref_ckpt"),
            ]
        )
        self.assertEqual(
            reference.returncode, 0, (reference.stdout + reference.stderr)[-4000:]
        )

        job = subprocess.Popen(
            [
                "torchx",
                "run",
                "launch/components.py:train",
                "-j",
                "1x2",
                "--max_retries",
                "1",
                "--",
                *args,
                "--run_name",
                "killed",
                "--checkpoint_dir",
                ckpt,
            ],
            cwd=ROOT,
            env=script_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.time() + 300
            killed_at: List[str] = []
            while time.time() < deadline and not killed_at:
                steps = [
                    d
                    for d in (os.listdir(ckpt) if os.path.isdir(ckpt) else [])
                    if d.startswith("step_")
                ]
                if any(int(d.split("_")[1]) >= 20 for d in steps):
                    pid = _worker_pid(ckpt, rank=1)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL)
                        killed_at = sorted(steps)
                time.sleep(0.2)
            self.assertTrue(killed_at, "no checkpoint appeared in time to kill a rank")
            log, _ = job.communicate(timeout=600)
        finally:
            if job.poll() is None:
                job.kill()
        self.assertEqual(job.returncode, 0, log[-4000:])
        self.assertIn("SUCCEEDED", log)
        self.assertIn("resumed from", log)
        killed, ref = self._metrics(out, "killed"), self._metrics(out, "reference")
        # Shown with `pytest -s`: what happened, for the record.
        print(f"\n[kill test] SIGKILL to rank 1 with checkpoints {killed_at} on disk")
        print(
            "\n".join(
                line
                for line in log.splitlines()
                if "resumed from" in line or "Job finished" in line
            )
        )
        for name, m in (("reference", ref), ("killed+restarted", killed)):
            print(
                f"[kill test] {name}: steps {m['steps']} test AUC {m['test']['auc']:.6f} "
                f"logloss {m['test']['logloss']:.6f}"
            )
        print(f"[kill test] checkpoint directory: {sorted(os.listdir(ckpt))}")
        self.assertEqual(killed["steps"], ref["steps"])
        self.assertAlmostEqual(killed["test"]["auc"], ref["test"]["auc"], delta=1e-3)
        self.assertAlmostEqual(
            killed["test"]["logloss"], ref["test"]["logloss"], delta=1e-3
        )
        # Every visible checkpoint is complete; nothing half-written is left behind.
        for entry in os.listdir(ckpt):
            self.assertFalse(entry.endswith(".tmp"), entry)
            if entry.startswith("step_"):
                self.assertTrue(
                    os.path.isfile(os.path.join(ckpt, entry, STATE_FILE)), entry
                )
