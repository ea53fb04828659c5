import dataclasses
import unittest

from torchrec_dlf.modules.dlf_config import (
    FUSION_TYPES,
    DLFConfig,
    DLFConfigError,
    format_value,
)


class DLFConfigTest(unittest.TestCase):
    def test_defaults_are_the_products(self) -> None:
        c = DLFConfig()
        self.assertEqual(
            (c.num_layers, c.tokens_per_block, c.rank, c.block_mlp_width, c.num_heads),
            (3, 16, 24, 512, 2),
        )
        self.assertEqual((c.fusion, c.block_norm), ("attention", "layer"))
        self.assertTrue(c.gate and c.branch_scale and c.scale_output and c.low_order)

    def test_released_layer(self) -> None:
        r = DLFConfig.released()
        self.assertEqual((r.fusion, r.block_norm), ("concat", "batch"))
        self.assertFalse(r.gate or r.implicit_activation or r.branch_scale)
        self.assertFalse(r.scale_output)
        self.assertEqual(r.rank, DLFConfig().rank)  # sizes untouched

    def test_every_field_has_help_and_a_checked_type(self) -> None:
        for f in dataclasses.fields(DLFConfig):
            self.assertTrue(f.metadata["help"], f.name)
            if f.metadata["choices"] is not None:
                self.assertIn(f.default, f.metadata["choices"])

    def test_bad_values_name_the_field(self) -> None:
        for kw, message in (
            ({"rank": 0}, "rank must be >= 1, got 0"),
            ({"num_layers": -1}, "num_layers must be >= 1, got -1"),
            ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
            ({"fusion": "sum"}, "fusion must be one of"),
            ({"block_norm": "group"}, "block_norm must be one of"),
            ({"gate": "yes"}, "gate must be a bool"),
        ):
            with self.assertRaisesRegex(DLFConfigError, message) as caught:
                DLFConfig(**kw)
            self.assertEqual(caught.exception.setting, next(iter(kw)))

    def test_frozen(self) -> None:
        with self.assertRaises(dataclasses.FrozenInstanceError):
            DLFConfig().rank = 3  # type: ignore[misc]

    def test_with_switches(self) -> None:
        base = DLFConfig(rank=8)
        c = DLFConfig.with_switches(base, fusion="concat")
        self.assertEqual((c.rank, c.fusion), (8, "concat"))
        self.assertEqual(DLFConfig.with_switches(None), DLFConfig())
        with self.assertRaisesRegex(TypeError, r"unknown DLF settings \['rnak'\]"):
            DLFConfig.with_switches(base, rnak=4)

    def test_prefixed_round_trip(self) -> None:
        c = DLFConfig(rank=4, fusion=FUSION_TYPES[1], gate=False)
        flat = c.prefixed("dlf_")
        self.assertEqual(flat["dlf_rank"], 4)
        self.assertEqual(len(flat), len(DLFConfig.field_names()))
        self.assertEqual(DLFConfig.from_prefixed({**flat, "other": 1}, "dlf_"), c)

    def test_to_flags_lists_what_differs(self) -> None:
        self.assertEqual(DLFConfig().to_flags(), [])
        self.assertEqual(
            DLFConfig(gate=False, rank=8).to_flags(),
            ["--dlf_rank", "8", "--dlf_gate", "off"],
        )
        self.assertEqual(format_value(True), "on")


if __name__ == "__main__":
    unittest.main()
