import dataclasses
import unittest

from torchrec_dlf.training.train_config import TrainConfig


class TrainConfigTest(unittest.TestCase):
    def test_fields_are_the_flags_only(self) -> None:
        names = [f.name for f in dataclasses.fields(TrainConfig)]
        self.assertEqual(list(dataclasses.asdict(TrainConfig())), names)
        for derived in ("eval_batch_size", "fused_decay_in_kernel"):
            self.assertNotIn(derived, names)

    def test_eval_batch_size(self) -> None:
        self.assertEqual(TrainConfig(batch_size=64).eval_batch_size, 64)
        self.assertEqual(
            TrainConfig(batch_size=64, test_batch_size=256).eval_batch_size, 256
        )

    def test_fused_decay_in_kernel_needs_a_decay(self) -> None:
        self.assertFalse(
            TrainConfig(embedding_decay_kernel="fbgemm").fused_decay_in_kernel
        )
        self.assertTrue(
            TrainConfig(
                embedding_decay_kernel="fbgemm", embedding_l2=1e-4
            ).fused_decay_in_kernel
        )
        self.assertFalse(TrainConfig(embedding_l2=1e-4).fused_decay_in_kernel)

    def test_lookup_embedding_l2(self) -> None:
        self.assertEqual(TrainConfig(embedding_l2=0.5).lookup_embedding_l2, 0.5)
        for mode in ("table", "decoupled"):
            config = TrainConfig(embedding_l2=0.5, embedding_l2_mode=mode)
            self.assertEqual(config.lookup_embedding_l2, 0.0)


if __name__ == "__main__":
    unittest.main()
