import os
import tempfile
import unittest

from tests.data.helpers import write_indexed_dataset
from torchrec_dlf.training.arguments import ignored_model_flags, validate_train_args
from torchrec_dlf.training.cli import build_parser
from torchrec_dlf.user_errors import ConfigError, OutputError, explicit_flags


def _validate(argv):  # pyre-ignore[2,3]
    parser = build_parser()
    args = parser.parse_args(argv)
    return validate_train_args(args, explicit_flags(parser, argv))


class ValidateTrainArgsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls._tmp.name, "ds")
        write_indexed_dataset(cls.data, {"train": 32, "valid": 8, "test": 8}, vocab=40)
        cls.out = ["--output_dir", os.path.join(cls._tmp.name, "results")]

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_defaults_pass(self) -> None:
        meta, warnings = _validate(["--dataset_dir", self.data, *self.out])
        self.assertEqual(meta.name, "indexed")
        self.assertEqual(warnings, [])
        self.assertFalse(os.path.exists(self.out[1]))  # checked, not created

    def test_ranges(self) -> None:
        for argv, message in (
            (["--batch_size", "0"], r"^--batch_size must be >= 1, got 0$"),
            (["--test_batch_size", "-3"], r"^--test_batch_size must be >= 1, got -3$"),
            (
                ["--keep_last_checkpoints", "0"],
                r"^--keep_last_checkpoints must be >= 1, got 0$",
            ),
            (
                ["--over_arch_layer_sizes", "0,1"],
                r"layer sizes must be >= 1, got \[0, 1\]$",
            ),
            (["--over_arch_layer_sizes", ","], r"needs at least one layer size$"),
            (
                ["--embedding_learning_rate", "-1"],
                r"must be a finite number > 0, got -1.0$",
            ),
            (
                ["--embedding_l2", "inf"],
                r"^--embedding_l2 must be a finite number >= 0, got inf$",
            ),
            (
                ["--lr_decay_factor", "0"],
                r"^--lr_decay_factor must be in \(0, 1\], got 0.0$",
            ),
            (
                ["--deepfm_dropout", "-0.1"],
                r"^--deepfm_dropout must be in \[0, 1\), got -0.1$",
            ),
            (
                ["--planner_sharding_types", "row_wise", "--sharding", "table_wise"],
                r"applies to --sharding auto only$",
            ),
            (
                ["--resume", "/nonexistent/step_1", "--checkpoint_dir", "/tmp/x"],
                r"^--resume /nonexistent/step_1: expected auto, never or the directory",
            ),
            (["--resume", "/tmp"], r"^--resume <path> needs --checkpoint_dir"),
            (["--lr_warmup_steps", "-1"], r"^--lr_warmup_steps must be >= 0, got -1$"),
            (["--lr_decay_start", "-2"], r"^--lr_decay_start must be >= 0, got -2$"),
            (["--lr_decay_steps", "0"], r"^--lr_decay_steps must be >= 1, got 0$"),
            (
                ["--lr_decay_end_factor", "1.5"],
                r"^--lr_decay_end_factor must be in \[0, 1\], got 1.5$",
            ),
            (
                ["--lr_decay_power", "0"],
                r"^--lr_decay_power must be a finite number > 0, got 0.0$",
            ),
            (
                ["--lr_schedule", "cosine", "--lr_warmup_steps", "10"],
                r"^--lr_decay_start 0 is inside the warmup \(--lr_warmup_steps 10\)",
            ),
            (
                ["--log_every_n_steps", "0"],
                r"^--log_every_n_steps must be >= 1, got 0$",
            ),
            (
                ["--metrics_window_size", "0"],
                r"^--metrics_window_size must be >= 1, got 0$",
            ),
        ):
            with self.subTest(argv), self.assertRaisesRegex(ConfigError, message):
                _validate(["--dataset_dir", self.data, *self.out, *argv])

    def test_gauc_field(self) -> None:
        meta, _ = _validate(
            ["--dataset_dir", self.data, *self.out, "--gauc_field", "C1"]
        )
        self.assertIn("C1", meta.categorical)
        _validate([*self.out, "--gauc_field", "C1", "--multi_hot", "1,3" + ",1" * 24])
        for argv, message in (
            (
                ["--dataset_dir", self.data, "--gauc_field", "user"],
                r"^--gauc_field user: not a categorical field of .*/ds \(C1, ",
            ),
            (
                ["--gauc_field", "C2", "--multi_hot", "1,3" + ",1" * 24],
                r"^--gauc_field C2: a multi-hot field of the embedded synthetic set; ",
            ),
            (
                ["--gauc_field", "I1"],
                r"^--gauc_field I1: not a categorical field of the",
            ),
        ):
            with self.subTest(argv), self.assertRaisesRegex(ConfigError, message):
                _validate([*self.out, *argv])

    def test_planner_flags(self) -> None:
        for argv, message in (
            (
                ["--planner_storage_reservation", "1"],
                r"^--planner_storage_reservation must be in \[0, 1\), got 1.0$",
            ),
            (
                ["--planner_storage_reservation", "nan"],
                r"^--planner_storage_reservation must be a finite number, got nan$",
            ),
            (["--planner_ddr_gb", "0"], r"^--planner_ddr_gb must be > 0, got 0.0$"),
            (["--planner_hbm_gb", "inf"], r"^--planner_hbm_gb must be a finite"),
            (
                ["--planner_uvm_caching_load_factor", "1.5"],
                r"^--planner_uvm_caching_load_factor must be in \(0, 1\), got 1.5$",
            ),
            (
                ["--planner_compute_kernels", "fused,dense"],
                r"^--planner_compute_kernels: unknown dense; choose from fused,",
            ),
            (
                ["--planner_compute_kernels", "fused_uvm_caching", "--device", "cpu"],
                r"^--planner_compute_kernels fused_uvm_caching needs CUDA",
            ),
            (
                ["--planner_uvm_caching_load_factor", "0.2", "--device", "cpu"],
                r"^--planner_uvm_caching_load_factor needs CUDA \(UVM does not exist",
            ),
            (
                ["--planner_storage_reservation", "0.05", "--sharding", "row_wise"],
                r"^--planner_storage_reservation applies to --sharding auto only$",
            ),
            (
                ["--planner_ddr_gb", "4", "--sharding", "table_wise"],
                r"^--planner_ddr_gb applies to --sharding auto only$",
            ),
        ):
            with self.subTest(argv), self.assertRaisesRegex(ConfigError, message):
                _validate(["--dataset_dir", self.data, *self.out, *argv])
        _validate(
            [
                "--dataset_dir",
                self.data,
                *self.out,
                "--planner_storage_reservation",
                "0.05",
                "--planner_ddr_gb",
                "8",
                "--planner_compute_kernels",
                "fused",
                "--device",
                "cpu",
            ]
        )

    def test_outputs(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            run = os.path.join(d, "results", "r")
            os.makedirs(run)
            with open(os.path.join(run, "metrics.json"), "w") as f:
                f.write("{}")
            argv = [
                "--dataset_dir",
                self.data,
                "--output_dir",
                os.path.join(d, "results"),
            ]
            with self.assertRaisesRegex(
                OutputError, "holds the metrics.json of an earlier run"
            ):
                _validate(argv + ["--run_name", "r"])
            _validate(argv + ["--run_name", "r", "--overwrite"])
            with self.assertRaisesRegex(
                OutputError, r"--checkpoint_dir .*: inside or around the input"
            ):
                _validate(argv + ["--checkpoint_dir", os.path.join(self.data, "ckpt")])

    def test_ignored_model_flags(self) -> None:
        parser = build_parser()
        argv = [
            "--interaction_type",
            "dcnv2",
            "--dense_embedding",
            "per_field",
            "--dlf_rank",
            "3",
            "--dcnv2_cross_layers",
            "2",
            "--embedding_init_std",
            "0.1",
        ]
        args = parser.parse_args(argv)
        self.assertEqual(
            ignored_model_flags(args, explicit_flags(parser, argv)),
            ["dense_embedding", "dlf_rank", "embedding_init_std"],
        )
        argv += ["--embedding_init", "normal"]
        args = parser.parse_args(argv)
        self.assertEqual(
            ignored_model_flags(args, explicit_flags(parser, argv)),
            ["dense_embedding", "dlf_rank"],
        )
        _, warnings = _validate(["--dataset_dir", self.data, *self.out, *argv])
        self.assertEqual(
            warnings,
            [
                "warning: --dense_embedding, --dlf_rank have no effect with --interaction_type dcnv2 (ignored)"
            ],
        )

    def test_schedule_flags(self) -> None:
        base = ["--dataset_dir", self.data, *self.out, "--lr_warmup_steps", "10"]
        # Warmup alone, and warmup before a decay, are fine.
        _validate(base)
        _validate(base + ["--lr_schedule", "poly", "--lr_decay_start", "10"])
        _, warnings = _validate(
            base + ["--lr_schedule", "cosine", "--lr_decay_start", "10"]
            + ["--lr_decay_power", "3", "--lr_decay_factor", "0.5"]
        )  # fmt: skip
        self.assertEqual(
            warnings,
            [
                "warning: --lr_decay_factor, --lr_decay_power have no effect with "
                "--lr_schedule cosine (ignored)"
            ],
        )
        _, warnings = _validate(base + ["--lr_decay_steps", "5"])
        self.assertEqual(
            warnings,
            [
                "warning: --lr_decay_steps has no effect with --lr_schedule plateau "
                "(ignored)"
            ],
        )


if __name__ == "__main__":
    unittest.main()
