from setuptools import find_packages, setup

# Modules with a `main(argv=None) -> int`, each run as `python -m torchrec_dlf.<name>`.
ENTRY_POINTS = [
    "train",
    "predict",
    "export",
    "prepare",
    "experiment",
    "main_job",
    "bench_data",
    "bench_embeddings",
    "bench_model",
]

setup(
    name="torchrec_dlf",
    version="0.1.0",
    description="DLF (Dynamic Low-Order-Aware Fusion) for TorchRec: interaction arch, "
    "DLRM_DLF, sharded training, data preparation and benchmarks",
    packages=find_packages(include=["torchrec_dlf", "torchrec_dlf.*"]),
    python_requires=">=3.10",
    # torch, fbgemm-gpu(-cpu) and torchrec are pinned in requirements-{cpu,cuda}.txt:
    # which fbgemm wheel is right depends on the host, and torchrec must be installed
    # with --no-deps on CPU hosts (it declares the CUDA fbgemm-gpu).
    install_requires=[
        "tensordict",
        "torchmetrics==1.0.3",
        "tqdm",
        "pyre-extensions",
        "iopath",
        "torchx==0.7.0",
        "pyarrow",
        "numpy",
    ],
    extras_require={"test": ["pytest", "hypothesis"], "bench": ["matplotlib"]},
    # The same commands as `python -m torchrec_dlf.<name>` (launch/*.py and
    # datasets/prepare.py are thin files over these, for TorchX and torchrun).
    entry_points={
        "console_scripts": [
            f"torchrec-dlf-{name.replace('_', '-')}=torchrec_dlf.{name}:main"
            for name in ENTRY_POINTS
        ]
    },
)
