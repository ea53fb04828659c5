import copy
import os
import tempfile
import unittest

from tests.data.helpers import write_indexed_dataset
from torchrec_dlf.data.metadata import DatasetMetadata
from torchrec_dlf.training.model_description import (
    CheckpointMismatch,
    DatasetMismatch,
    check_dataset,
    check_model_config,
    config_difference,
    dataset_difference,
    describe_model,
)
from torchrec_dlf.training.model_factory import ModelConfig


class ModelDescriptionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls._tmp = tempfile.TemporaryDirectory()
        cls.dir = os.path.join(cls._tmp.name, "ds")
        write_indexed_dataset(cls.dir, {"train": 40, "valid": 8, "test": 8}, vocab=50)
        cls.meta = DatasetMetadata.read(cls.dir)
        cls.description = describe_model(ModelConfig(), "fp32", cls.meta, cls.dir)

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()

    def test_same_dataset_passes(self) -> None:
        self.assertEqual(self.description["dataset"]["identity"], self.meta.identity)
        self.assertEqual(len(self.meta.identity), 64)
        self.assertIsNone(dataset_difference(self.description["dataset"], self.meta))
        check_dataset(self.description, DatasetMetadata.read(self.dir), "ck", self.dir)

    def test_each_difference_is_named(self) -> None:
        def other(**changes):  # pyre-ignore[2,3]
            meta = copy.deepcopy(self.meta)
            for k, v in changes.items():
                setattr(meta, k, v)
            return meta

        cases = [
            (other(numeric=["I1"]), r"numeric fields \['I1', 'I2'\] vs \['I1'\]"),
            (other(categorical=["C2", "C1", "C3"]), r"categorical fields"),
            (
                other(vocab_sizes={"C1": 50, "C2": 49, "C3": 50}),
                r"vocabulary sizes differ \(C2 50 vs 49\)",
            ),
            (
                other(identity="f" * 64),
                r"same fields and sizes but other vocabularies \(identity "
                + self.meta.identity[:12]
                + r" vs ffffffffffff\)",
            ),
        ]
        for meta, pattern in cases:
            with self.subTest(pattern):
                with self.assertRaisesRegex(
                    DatasetMismatch,
                    r"^checkpoint ck was trained on dataset "
                    r"'indexed' \(.*\) and --dataset_dir elsewhere encodes "
                    r"its data differently: " + pattern,
                ):
                    check_dataset(self.description, meta, "ck", "elsewhere")

    def test_checkpoints_without_identity_compare_shapes(self) -> None:
        old = copy.deepcopy(self.description)
        del old["dataset"]["identity"]
        meta = copy.deepcopy(self.meta)
        meta.identity = "0" * 64
        check_dataset(old, meta, "ck", self.dir)

    def test_checkpoint_with_the_old_logistic_name(self) -> None:
        old = {**self.description["model_config"], "interaction_type": "lr"}
        self.assertEqual(
            config_difference(old, ModelConfig(interaction_type="logistic")), []
        )
        self.assertEqual(
            config_difference(old, ModelConfig(interaction_type="dot")),
            ["interaction_type 'logistic' -> 'dot'"],
        )

    def test_model_config(self) -> None:
        saved = self.description
        check_model_config(saved, ModelConfig(), "ck")
        self.assertEqual(
            config_difference(
                saved["model_config"], ModelConfig(interaction_type="dot", dlf_rank=8)
            ),
            ["interaction_type 'dlf' -> 'dot'", "dlf_rank 24 -> 8"],
        )
        with self.assertRaisesRegex(
            CheckpointMismatch,
            r"^checkpoint ck holds another model: embedding_dim 16 -> 32, dense_arch_layer_sizes "
            r"None -> \[64, 32\]; use the flags it was trained with or another --checkpoint_dir$",
        ):
            check_model_config(
                saved,
                ModelConfig(embedding_dim=32, dense_arch_layer_sizes=[64, 32]),
                "ck",
            )


if __name__ == "__main__":
    unittest.main()
