import unittest

import torch
from torchrec.models.dlrm import DLRM, DLRM_DCN, DLRM_Projection, DLRMTrain

from torchrec_dlf import DLRM_DLF
from torchrec_dlf.data.metadata import DatasetMetadata, SplitInfo
from torchrec_dlf.models.dlrm_dcnv2 import DLRM_DCNv2
from torchrec_dlf.models.dlrm_deepfm import DLRM_DeepFM
from torchrec_dlf.models.first_order import DLRM_FirstOrder
from torchrec_dlf.training.model_factory import (
    ModelConfig,
    build_train_model,
    count_parameters,
    embedding_bag_configs,
)


def _meta(numeric=3) -> DatasetMetadata:
    return DatasetMetadata(
        name="toy",
        numeric=[f"I{i}" for i in range(numeric)],
        categorical=["C1", "C2"],
        vocab_sizes={"C1": 10, "C2": 7},
        splits={"train": SplitInfo([], 0, 0)},
    )


class ModelFactoryTest(unittest.TestCase):
    def test_each_interaction_type(self) -> None:
        expected = {
            "dot": DLRM,
            "dcn": DLRM_DCN,
            "projection": DLRM_Projection,
            "dlf": DLRM_DLF,
            "dcnv2": DLRM_DCNv2,
            "deepfm": DLRM_DeepFM,
            "logistic": DLRM_FirstOrder,
        }
        for kind, cls in expected.items():
            model = build_train_model(
                ModelConfig(
                    interaction_type=kind, embedding_dim=8, dlf_block_mlp_width=16
                ),
                _meta(),
                torch.device("cpu"),
                ebc_device=torch.device("cpu"),
            )
            self.assertIsInstance(model, DLRMTrain)
            self.assertIs(type(model.model), cls)
            out = model.model(torch.rand(2, 3), _kjt())
            self.assertEqual(out.shape, (2, 1), kind)

    def test_tables_follow_metadata(self) -> None:
        configs = embedding_bag_configs(_meta(), 8)
        self.assertEqual(
            [(c.name, c.num_embeddings, c.feature_names) for c in configs],
            [("t_C1", 10, ["C1"]), ("t_C2", 7, ["C2"])],
        )

    def test_linear_head(self) -> None:
        for kind in ("dlf", "dcnv2", "deepfm"):
            model = build_train_model(
                ModelConfig(
                    interaction_type=kind,
                    embedding_dim=8,
                    over_arch_layer_sizes=[1],
                    dlf_block_mlp_width=16,
                ),
                _meta(),
                torch.device("cpu"),
                ebc_device=torch.device("cpu"),
            )
            self.assertIsInstance(model.model.over_arch, torch.nn.Linear, kind)
            self.assertEqual(model.model(torch.rand(2, 3), _kjt()).shape, (2, 1))
        with self.assertRaisesRegex(ValueError, "needs a hidden layer"):
            ModelConfig(interaction_type="dot", over_arch_layer_sizes=[1]).validate()

    def test_table_initialisation(self) -> None:
        meta = DatasetMetadata(
            name="big",
            numeric=[],
            categorical=["C1"],
            vocab_sizes={"C1": 20000},
            splits={"train": SplitInfo([], 0, 0)},
        )
        for init, std, bound in (
            ("normal", 1e-4, None),
            ("uniform", 0.01, 0.01 * 3**0.5),
            ("torchrec", None, 20000**-0.5),
        ):
            config = ModelConfig(
                interaction_type="logistic",
                embedding_dim=8,
                embedding_init=init,
                embedding_init_std=std or 1e-4,
            )
            model = build_train_model(
                config, meta, torch.device("cpu"), ebc_device=torch.device("cpu")
            )
            table = model.model.sparse_arch.embedding_bag_collection.embedding_bags[
                "t_C1"
            ].weight
            if std is not None:
                self.assertAlmostEqual(table.std().item(), std, delta=std * 0.03)
            if bound is not None:
                self.assertLessEqual(table.abs().max().item(), bound)
                self.assertGreater(table.abs().max().item(), bound * 0.99)
        with self.assertRaisesRegex(ValueError, "embedding_init must be one of"):
            ModelConfig(embedding_init="xavier").validate()
        with self.assertRaisesRegex(ValueError, "embedding_init_std must be > 0"):
            ModelConfig(embedding_init="normal", embedding_init_std=0.0).validate()

    def test_meta_device_embeddings_and_parameter_counts(self) -> None:
        model = build_train_model(
            ModelConfig(interaction_type="logistic", embedding_dim=4),
            _meta(),
            torch.device("cpu"),
        )
        table = model.model.sparse_arch.embedding_bag_collection.embedding_bags[
            "t_C1"
        ].weight
        self.assertEqual(table.device.type, "meta")
        self.assertEqual(count_parameters(model, embeddings=True), (10 + 7) * 4)
        self.assertEqual(count_parameters(model), 3 + 2 * 4 + 1)  # one linear layer

    def test_validation(self) -> None:
        with self.assertRaisesRegex(ValueError, "multiple of 4"):
            ModelConfig(embedding_dim=10).validate()
        with self.assertRaisesRegex(ValueError, "must end with embedding_dim"):
            ModelConfig(embedding_dim=8, dense_arch_layer_sizes=[16, 4]).validate()
        with self.assertRaisesRegex(ValueError, "one logit"):
            ModelConfig(over_arch_layer_sizes=[16, 2]).validate()
        with self.assertRaisesRegex(ValueError, "interaction_type"):
            ModelConfig(interaction_type="fm").validate()


def _kjt():
    from torchrec import KeyedJaggedTensor

    return KeyedJaggedTensor(
        keys=["C1", "C2"],
        values=torch.tensor([1, 2, 3, 4]),
        lengths=torch.ones(4, dtype=torch.int32),
    )
