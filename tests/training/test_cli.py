import unittest

from torch.distributed.run import get_args_parser

from torchrec_dlf.training.cli import build_parser, configs_from_args


class CliTest(unittest.TestCase):
    def test_no_flag_is_a_prefix_of_a_torchrun_option(self) -> None:
        torchrun = [
            s
            for a in get_args_parser()._actions
            for s in a.option_strings
            if s.startswith("--")
        ]
        torchrun += [s.replace("-", "_").replace("__", "--", 1) for s in torchrun]
        ours = [
            s
            for a in build_parser()._actions
            for s in a.option_strings
            if s.startswith("--")
        ]
        for flag in ours:
            if flag == "--help":
                continue
            clashes = [t for t in torchrun if t.startswith(flag)]
            self.assertEqual(clashes, [], f"{flag} is a prefix of torchrun's {clashes}")

    def test_flags_map_to_configs(self) -> None:
        args = build_parser().parse_args(
            [
                "--interaction_type",
                "dlf",
                "--embedding_dim",
                "32",
                "--over_arch_layer_sizes",
                "64,1",
                "--dlf_low_order",
                "off",
                "--dlf_fusion",
                "concat",
                "--dlf_gate",
                "off",
                "--dlf_implicit_activation",
                "off",
                "--batch_size",
                "128",
                "--limit_train_batches",
                "3",
            ]
        )
        model, train = configs_from_args(args)
        self.assertEqual(
            (model.embedding_dim, model.over_arch_layer_sizes), (32, [64, 1])
        )
        self.assertEqual(
            (
                model.dlf_low_order,
                model.dlf_fusion,
                model.dlf_gate,
                model.dlf_implicit_activation,
            ),
            (False, "concat", False, False),
        )
        self.assertEqual((train.batch_size, train.limit_train_batches), (128, 3))
        self.assertEqual(model.resolved_dense_arch_layer_sizes(), [256, 32])

    def test_bad_values_are_rejected(self) -> None:
        parser = build_parser()
        for argv in (
            ["--dlf_gate", "maybe"],
            ["--over_arch_layer_sizes", "a,b"],
            ["--interaction_type", "fm"],
        ):
            with self.assertRaises(SystemExit):
                parser.parse_args(argv)
