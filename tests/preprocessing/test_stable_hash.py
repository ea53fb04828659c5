import unittest

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from torchrec_dlf.preprocessing.stable_hash import fnv1a_64, fnv1a_64_of


class StableHashTest(unittest.TestCase):
    def test_published_vectors(self) -> None:
        self.assertEqual(
            fnv1a_64(pa.array(["", "a", "foobar"])).tolist(),
            [0xCBF29CE484222325, 0xAF63DC4C8601EC8C, 0x85944171F73967E8],
        )

    @settings(max_examples=50, deadline=None)
    @given(
        st.lists(st.one_of(st.text(max_size=12), st.none()), min_size=1, max_size=40),
        st.integers(0, 5),
    )
    def test_vectorised_matches_scalar(self, values, offset) -> None:  # pyre-ignore[2]
        array = pa.array(["pad"] * offset + values, pa.string()).slice(offset)
        expected = [fnv1a_64_of((v or "").encode()) for v in values]
        self.assertEqual(fnv1a_64(array).tolist(), expected)
