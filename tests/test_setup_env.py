"""Host-torch installs without network: scripts/build_wheelhouse.py builds a wheelhouse
from local wheels (tiny stand-ins for the stack, real pip and setuptools), and
scripts/setup_env.sh --host-torch installs from it into a fresh venv that keeps the
host's torch (a stand-in with a ``__version__``); the compatibility table, checksums
and every refusal on the way. Real pip, real venvs, no index."""

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile
from typing import Dict, List, Optional, Sequence

from tests.scripts import ROOT

SETUP_ENV = os.path.join(ROOT, "scripts", "setup_env.sh")
BUILDER = os.path.join(ROOT, "scripts", "build_wheelhouse.py")
HOST_STACK = os.path.join(ROOT, "scripts", "host_stack.py")
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
# The interpreter this test's venv was made from: no torch, nothing of the stack.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
# What the stand-ins declare (the real packages' dependencies, shortened).
REQUIRES = {
    "tensordict": ["torch>=2.11.0a0", "numpy"],
    "matplotlib": ["cycler>=0.10", "numpy"],
    "torchrec": ["fbgemm-gpu", "tensordict", "torchmetrics==1.0.3"],
    "fbgemm-gpu-cpu": ["numpy"],
}


def hermetic_env(**extra: str) -> Dict[str, str]:
    """This environment without pip's configuration (files and PIP_* variables): a
    machine's pip.conf must not add indexes or wheels to what the tests see."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PYTHONUNBUFFERED="1", **extra)
    return env


def module_name(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def make_wheel(
    directory: str,
    project: str,
    version: str,
    requires: Sequence[str] = (),
    files: Optional[Dict[str, str]] = None,
) -> str:
    """A minimal valid pure-Python wheel: one package of that name and its metadata."""
    name = module_name(project)
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    content = dict(files or {f"{name}/__init__.py": f"__version__ = {version!r}\n"})
    content[f"{info}/METADATA"] = metadata
    content[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    content[f"{info}/RECORD"] = (
        "".join(f"{n},,\n" for n in content) + f"{info}/RECORD,,\n"
    )
    path = os.path.join(directory, f"{name}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as z:
        for member, text in content.items():
            z.writestr(member, text)
    return path


def repack_installed(project: str, directory: str) -> str:
    """The installed distribution ``project`` (of this interpreter) as a wheel again:
    real pip and setuptools for the offline wheelhouse."""
    dist = importlib.metadata.distribution(project)
    path = os.path.join(
        directory, f"{module_name(project)}-{dist.version}-py3-none-any.whl"
    )
    with zipfile.ZipFile(path, "w") as z:
        for entry in dist.files or []:
            member = str(entry)
            source = str(dist.locate_file(entry))
            if member.startswith("..") or "__pycache__" in member:
                continue  # console scripts outside site-packages, byte code
            if os.path.isfile(source):
                z.write(source, member)
    return path


def pinned(path: str) -> List[str]:
    with open(path) as f:
        lines = [line.split("#", 1)[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith("-")]


def write_sums(directory: str) -> None:
    """SHA256SUMS of ``directory`` as it is now (sha256sum's format)."""
    lines = []
    for name in sorted(os.listdir(directory)):
        if name != "SHA256SUMS":
            with open(os.path.join(directory, name), "rb") as f:
                lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {name}\n")
    with open(os.path.join(directory, "SHA256SUMS"), "w") as f:
        f.writelines(lines)


def run(argv: List[str], env: Dict[str, str], timeout: float = 300, cwd: str = ROOT):
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def host_with_torch(directory: str, version: str) -> str:
    """A venv (the site's installation) whose only package is a torch stand-in."""
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", directory], check=True)
    python = os.path.join(directory, "bin", "python")
    wheels = os.path.join(directory, "wheel")
    os.makedirs(wheels)
    wheel = make_wheel(wheels, "torch", f"{version}+cpu")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
        + ["--no-index", "--no-deps", wheel],
        check=True,
        env=hermetic_env(),
    )
    return python


class CompatTableTest(unittest.TestCase):
    def _lookup(self, version: str) -> subprocess.CompletedProcess:
        return run([sys.executable, HOST_STACK, "lookup", version], hermetic_env())

    def test_known_versions(self) -> None:
        for torch, pair in (
            ("2.13.0", "fbgemm-gpu 1.8.0 torchrec 1.8.0"),
            ("2.13.0+cpu", "fbgemm-gpu 1.8.0 torchrec 1.8.0"),
            ("2.11.0+cu130", "fbgemm-gpu 1.6.0 torchrec 1.6.1"),
            ("2.12", "fbgemm-gpu 1.7.0 torchrec 1.7.0"),
            ("2.14.1", "fbgemm-gpu 1.9.0 torchrec 1.9.2"),
        ):
            done = self._lookup(torch)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(done.stdout.strip(), pair, torch)

    def test_unknown_version_is_one_line(self) -> None:
        for torch, message in (
            ("2.9.0", "torch 2.9.0 is not in scripts/stack_compat.tsv (known: 2.11, "),
            ("abc", "cannot read a torch version from 'abc'"),
        ):
            done = self._lookup(torch)
            self.assertEqual(done.returncode, 2)
            self.assertEqual(done.stdout, "")
            lines = done.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, done.stderr)
            self.assertTrue(lines[0].startswith(f"error: {message}"), lines[0])

    def test_the_ci_row_is_the_pinned_stack(self) -> None:
        # The row CI runs must say what requirements-{cpu,cuda}.txt pin.
        pins = set(pinned(os.path.join(ROOT, "requirements-cpu.txt")))
        pins |= set(pinned(os.path.join(ROOT, "requirements-cuda.txt")))
        with open(os.path.join(ROOT, "scripts", "stack_compat.tsv")) as f:
            rows = [
                line.rstrip("\n").split("\t")
                for line in f
                if line.strip() and not line.startswith("#")
            ]
        (ci,) = [r for r in rows if r[3] == "ci"]
        torch = next(p for p in pins if p.startswith("torch=="))
        self.assertEqual(torch.split("==")[1].rsplit(".", 1)[0], ci[0])
        self.assertIn(f"fbgemm-gpu-cpu=={ci[1]}", pins)
        self.assertIn(f"fbgemm-gpu=={ci[1]}", pins)
        with open(SETUP_ENV) as f:
            self.assertIn(f"torchrec=={ci[2]}", f.read())


class HostTorchInstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp()
        cls.source = os.path.join(cls.tmp, "source")
        os.makedirs(cls.source)
        for requirement in pinned(os.path.join(ROOT, "requirements-common.txt")):
            project, version = requirement.split("==")
            make_wheel(cls.source, project, version, REQUIRES.get(project, ()))
        make_wheel(cls.source, "cycler", "0.12.1")  # only a dependency
        make_wheel(
            cls.source,
            "fbgemm-gpu-cpu",
            "1.8.0",
            REQUIRES["fbgemm-gpu-cpu"],
            files={"fbgemm_gpu/__init__.py": "__version__ = '1.8.0'\n"},  # its module
        )
        make_wheel(cls.source, "torchrec", "1.8.0", REQUIRES["torchrec"])
        # A torch the builder finds but must never ship (the host has its own).
        make_wheel(cls.source, "torch", "2.13.0")
        for project in ("pip", "setuptools"):
            repack_installed(project, cls.source)
        cls.wheelhouse = os.path.join(cls.tmp, "wheelhouse")
        cls.build = run(
            [sys.executable, BUILDER, "--python", PY, "--torch", "2.13", "--cpu"]
            + ["--find-links", cls.source, "--no-index", "--output", cls.wheelhouse],
            hermetic_env(),
        )
        cls.host_python = host_with_torch(os.path.join(cls.tmp, "host"), "2.13.0")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def _setup_env(
        self, venv: str, *args: str, python: Optional[str] = None, **env: str
    ) -> subprocess.CompletedProcess:
        return run(
            ["bash", SETUP_ENV, *args],
            dict(os.environ, VENV=venv, PYTHON=python or self.host_python, **env),
            timeout=600,
        )

    def _copy(self, name: str) -> str:
        copy = os.path.join(self.tmp, name)
        shutil.copytree(self.wheelhouse, copy)
        return copy

    def _refused(self, done: subprocess.CompletedProcess, venv: str, start: str):
        self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
        lines = done.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertTrue(lines[0].startswith(f"error: {start}"), lines[0])
        self.assertFalse(os.path.exists(venv), "refused, yet a venv was created")

    def test_builder_writes_the_stack_without_torch_and_checksums(self) -> None:
        self.assertEqual(
            self.build.returncode, 0, self.build.stdout + self.build.stderr
        )
        names = sorted(os.listdir(self.wheelhouse))
        self.assertFalse([n for n in names if n.startswith("torch-")], names)
        for prefix in (
            "fbgemm_gpu_cpu-1.8.0-",
            "torchrec-1.8.0-",
            "tensordict-0.15.3-",
            "cycler-0.12.1-",  # a dependency of a requirement
            "setuptools-",
            "pip-",
        ):
            self.assertTrue([n for n in names if n.startswith(prefix)], prefix)
        self.assertFalse([n for n in names if n.startswith("fbgemm_gpu-")], names)
        with open(os.path.join(self.wheelhouse, "SHA256SUMS")) as f:
            sums = dict(reversed(line.split()) for line in f)
        self.assertEqual(sorted(sums), [n for n in names if n != "SHA256SUMS"])
        for name, digest in sums.items():
            with open(os.path.join(self.wheelhouse, name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest, name)
        with open(os.path.join(self.wheelhouse, "wheelhouse.json")) as f:
            target = json.load(f)["target"]
        self.assertEqual(
            (target["python"], target["torch"], target["variant"]),
            (PY, "2.13.0", "cpu"),
        )

    def test_install_into_a_fresh_venv_that_keeps_the_host_torch(self) -> None:
        self.assertEqual(self.build.returncode, 0, self.build.stderr)
        venv = os.path.join(self.tmp, "venv")
        # A user's pip settings that host-torch mode must ignore: a newer cycler
        # beside the wheelhouse and an index that does not exist.
        decoys = os.path.join(self.tmp, "decoys")
        os.makedirs(decoys)
        make_wheel(decoys, "cycler", "9.9.9")
        env = dict(PIP_FIND_LINKS=decoys, PIP_INDEX_URL="http://127.0.0.1:9/simple")
        done = self._setup_env(
            venv, "--host-torch", "--wheelhouse", self.wheelhouse, **env
        )
        self.assertEqual(done.returncode, 0, (done.stdout + done.stderr)[-4000:])
        self.assertIn("host-torch mode: torch 2.13.0+cpu (cpu)", done.stdout)
        probe = run(
            [
                os.path.join(venv, "bin", "python"),
                "-c",
                "import importlib.metadata as m, importlib.util as u, json, torch\n"
                "names = ('fbgemm-gpu-cpu', 'torchrec', 'tensordict', 'cycler', "
                "'torchrec_dlf')\n"
                "print(json.dumps({'torch': [torch.__version__, torch.__file__], "
                "**{n: [m.version(n), str(m.distribution(n).locate_file(''))] "
                "for n in names}, 'cuda_fbgemm': u.find_spec('fbgemm_gpu') and "
                "[d.metadata['Name'] for d in m.distributions() "
                "if d.metadata['Name'] == 'fbgemm-gpu'], "
                "'package': u.find_spec('torchrec_dlf').origin}))",
            ],
            hermetic_env(),
            cwd=self.tmp,  # not the checkout, whose torchrec_dlf.egg-info would answer
        )
        self.assertEqual(probe.returncode, 0, probe.stderr)
        seen = json.loads(probe.stdout)
        host = os.path.join(self.tmp, "host")
        # torch is the host's, untouched; the stack is the wheelhouse's, in the venv.
        self.assertEqual(seen["torch"][0], "2.13.0+cpu")
        self.assertTrue(seen["torch"][1].startswith(host), seen["torch"])
        for name, version in (
            ("fbgemm-gpu-cpu", "1.8.0"),
            ("torchrec", "1.8.0"),
            ("tensordict", "0.15.3"),
            ("cycler", "0.12.1"),  # the wheelhouse's, not the decoy
            ("torchrec_dlf", "0.1.0"),
        ):
            self.assertEqual(seen[name][0], version, name)
            self.assertTrue(seen[name][1].startswith(venv), (name, seen[name]))
        self.assertEqual(seen["cuda_fbgemm"], [])  # torchrec's declared fbgemm-gpu
        self.assertTrue(seen["package"].startswith(os.path.join(ROOT, "torchrec_dlf")))
        stamps = [n for n in os.listdir(venv) if n.startswith(".torchrec_dlf-host-")]
        self.assertEqual(len(stamps), 1, os.listdir(venv))
        # Re-running is a no-op; so is the default mode (it would replace the torch).
        for args in (("--host-torch", "--wheelhouse", self.wheelhouse), ()):
            again = self._setup_env(venv, *args)
            self.assertEqual(again.returncode, 0, again.stderr)
            self.assertEqual(again.stdout, "", args)

    def test_refusals_are_one_line_and_create_nothing(self) -> None:
        self.assertEqual(self.build.returncode, 0, self.build.stderr)
        venv = os.path.join(self.tmp, "refused")
        wheelhouse = ("--host-torch", "--wheelhouse", self.wheelhouse)

        no_torch = self._setup_env(venv, *wheelhouse, python=BASE_PYTHON)
        self._refused(no_torch, venv, f"{BASE_PYTHON} has no torch")

        old = host_with_torch(os.path.join(self.tmp, "old_host"), "2.9.0")
        unknown = self._setup_env(venv, *wheelhouse, python=old)
        self._refused(
            unknown, venv, "torch 2.9.0+cpu is not in scripts/stack_compat.tsv"
        )

        tampered = self._copy("tampered")
        (wheel,) = [n for n in os.listdir(tampered) if n.startswith("torchrec-")]
        with open(os.path.join(tampered, wheel), "ab") as f:
            f.write(b"\0")
        mismatch = self._setup_env(venv, "--host-torch", "--wheelhouse", tampered)
        self._refused(mismatch, venv, f"checksum mismatch in wheelhouse {tampered}")

        extra = self._copy("extra")
        make_wheel(extra, "cycler", "9.9.9")
        unlisted = self._setup_env(venv, "--host-torch", "--wheelhouse", extra)
        self._refused(unlisted, venv, f"wheelhouse {extra} holds files SHA256SUMS")

        lacking = self._copy("lacking")
        (fbgemm,) = [n for n in os.listdir(lacking) if n.startswith("fbgemm_gpu_cpu-")]
        os.remove(os.path.join(lacking, fbgemm))
        write_sums(lacking)
        missing = self._setup_env(venv, "--host-torch", "--wheelhouse", lacking)
        self._refused(
            missing, venv, f"wheelhouse {lacking} has no fbgemm-gpu-cpu 1.8.0"
        )

        cuda = self._setup_env(venv, *wheelhouse, TORCHREC_DLF_STACK="cuda")
        self._refused(
            cuda, venv, f"wheelhouse {self.wheelhouse} was built for variant cpu"
        )

        nothing = self._setup_env(venv, "--host-torch")
        self._refused(nothing, venv, "host-torch mode needs --wheelhouse DIR")

    def test_cuda_wheelhouse_takes_the_cuda_build(self) -> None:
        # PyTorch's CUDA index names its builds with a local label (1.8.0+cu130).
        source = os.path.join(self.tmp, "cuda_source")
        shutil.copytree(self.source, source)
        make_wheel(source, "fbgemm-gpu", "1.8.0+cu130", ["numpy"])
        requirements = os.path.join(self.tmp, "small-requirements.txt")
        with open(requirements, "w") as f:
            f.write("tqdm==4.70.1\n")
        wheelhouse = os.path.join(self.tmp, "cuda_wheelhouse")
        done = run(
            [sys.executable, BUILDER, "--python", PY, "--torch", "2.13.0", "--cuda"]
            + ["13", "--requirements", requirements, "--find-links", source]
            + ["--no-index", "--output", wheelhouse],
            hermetic_env(),
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        names = os.listdir(wheelhouse)
        self.assertIn("fbgemm_gpu-1.8.0+cu130-py3-none-any.whl", names)
        self.assertFalse([n for n in names if n.startswith("fbgemm_gpu_cpu-")], names)
        with open(os.path.join(wheelhouse, "wheelhouse.json")) as f:
            target = json.load(f)["target"]
        self.assertEqual((target["variant"], target["index"]), ("cuda", "cu130"))
        check = run(
            [sys.executable, HOST_STACK, "check", wheelhouse, "--torch"]
            + ["2.13.0+cu130", "--variant", "cuda", "--python", PY],
            hermetic_env(),
        )
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertEqual(check.stdout.split(), ["fbgemm-gpu==1.8.0", "torchrec==1.8.0"])

    def test_builder_refuses_a_torch_without_a_pair(self) -> None:
        done = run(
            [sys.executable, BUILDER, "--python", PY, "--torch", "2.9", "--cpu"]
            + ["--no-index", "--output", os.path.join(self.tmp, "never")],
            hermetic_env(),
        )
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
        self.assertIn(
            "error: torch 2.9 is not in scripts/stack_compat.tsv", done.stderr
        )
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "never")))
