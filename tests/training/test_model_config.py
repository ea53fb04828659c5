import dataclasses
import unittest

from torchrec_dlf.modules.dlf_config import DLFConfig
from torchrec_dlf.training.model_config import (
    DLF_PREFIX,
    ModelConfig,
    model_settings,
)
from torchrec_dlf.user_errors import ConfigError


class ModelConfigTest(unittest.TestCase):
    def test_dlf_fields_are_generated_from_dlf_config(self) -> None:
        names = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
        for f in dataclasses.fields(DLFConfig):
            self.assertEqual(names[DLF_PREFIX + f.name], f.default, f.name)
        self.assertEqual(ModelConfig(dlf_rank=8).dlf_config(), DLFConfig(rank=8))

    def test_a_dlf_model_records_every_dlf_setting(self) -> None:
        used = ModelConfig().used_settings()
        for name in DLFConfig.field_names():
            self.assertIn(DLF_PREFIX + name, used)
        self.assertNotIn(
            "dlf_rank", ModelConfig(interaction_type="dot").used_settings()
        )

    def test_bad_dlf_setting_names_the_flag(self) -> None:
        with self.assertRaisesRegex(ConfigError, r"^--dlf_rank must be >= 1, got 0$"):
            ModelConfig(dlf_rank=0).validate()
        with self.assertRaisesRegex(ConfigError, r"--dlf_dropout must be in \[0, 1\)"):
            ModelConfig(dlf_dropout=1.5).validate()

    def test_lr_is_the_old_name_of_logistic(self) -> None:
        self.assertEqual(
            ModelConfig(interaction_type="lr").interaction_type, "logistic"
        )
        self.assertEqual(model_settings("lr"), model_settings("logistic"))
        ModelConfig(interaction_type="lr").validate()


if __name__ == "__main__":
    unittest.main()
