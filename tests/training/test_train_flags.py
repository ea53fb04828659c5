import dataclasses
import unittest

from torchrec_dlf.modules.dlf_config import DLFConfig
from torchrec_dlf.training.cli import configs_from_args
from torchrec_dlf.training.train_flags import build_parser


def _actions():
    return {a.dest: a for a in build_parser()._actions}


class TrainFlagsTest(unittest.TestCase):
    def test_one_flag_per_dlf_field_with_its_default(self) -> None:
        actions = _actions()
        for f in dataclasses.fields(DLFConfig):
            action = actions[f"dlf_{f.name}"]
            self.assertEqual(action.default, f.default, f.name)
            self.assertEqual(action.help, f.metadata["help"], f.name)
            if isinstance(f.default, bool):
                self.assertEqual(action.metavar, "{on,off}")
            if f.metadata["choices"] is not None:
                self.assertEqual(tuple(action.choices), f.metadata["choices"])

    def test_flags_give_the_config_that_wrote_them(self) -> None:
        want = DLFConfig(num_layers=2, rank=8, dropout=0.1, fusion="concat", gate=False)
        args = build_parser().parse_args(want.to_flags())
        model, _ = configs_from_args(args)
        self.assertEqual(model.dlf_config(), want)

    def test_deprecated_logistic_name(self) -> None:
        args = build_parser().parse_args(["--interaction_type", "lr"])
        model, _ = configs_from_args(args)
        self.assertEqual(model.interaction_type, "logistic")

    def test_bad_dlf_values_are_rejected(self) -> None:
        parser = build_parser()
        for argv in (["--dlf_fusion", "sum"], ["--dlf_rank", "x"], ["--dlf_gate", "1"]):
            with self.assertRaises(SystemExit):
                parser.parse_args(argv)


if __name__ == "__main__":
    unittest.main()
