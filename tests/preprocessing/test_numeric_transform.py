import math
import unittest

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from torchrec_dlf.preprocessing.numeric_transform import (
    bucket_of,
    bucket_transform,
    check_transform,
    is_categorical_transform,
    log_transform,
    no_transform,
)


class NumericTransformTest(unittest.TestCase):
    def test_log(self) -> None:
        x = np.array([np.nan, -5.0, 0.0, 1.0, math.e - 1])
        np.testing.assert_allclose(
            log_transform(x), [0, 0, 0, math.log(2), 1], rtol=1e-6
        )
        self.assertEqual(log_transform(x).dtype, np.float32)

    def test_none(self) -> None:
        np.testing.assert_array_equal(
            no_transform(np.array([np.nan, -2.5, 3.0])), [0, -2.5, 3]
        )

    def test_bucket_examples(self) -> None:
        # v > 2: floor(log(v)^2); else int(v); empty: its own value.
        x = np.array([np.nan, -1.5, 0.0, 1.0, 2.0, 2.5, 10.0, 1000.0])
        self.assertEqual(
            bucket_transform(x).to_pylist(), ["", "-1", "0", "1", "2", "0", "5", "47"]
        )

    @settings(max_examples=100, deadline=None)
    @given(
        st.lists(
            st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1
        )
    )
    def test_bucket_matches_scalar_reference(self, values) -> None:  # pyre-ignore[2]
        self.assertEqual(
            bucket_transform(np.array(values)).to_pylist(),
            [bucket_of(v) for v in values],
        )

    def test_names(self) -> None:
        self.assertTrue(is_categorical_transform("bucket"))
        self.assertFalse(is_categorical_transform("log"))
        with self.assertRaisesRegex(ValueError, "numeric transform must be one of"):
            check_transform("sqrt")
