import unittest

import numpy as np
import pyarrow as pa
from hypothesis import given, settings, strategies as st

from torchrec_dlf.preprocessing.vocabulary import HashedVocabulary, ValueCounter
from tests.preprocessing.helpers import vocabulary


class ValueCounterTest(unittest.TestCase):
    def test_ids_by_count_then_value(self) -> None:
        counter = ValueCounter()
        counter.add(pa.array(["b", "a", "c", "b", None, "", "a", "b"]))
        vocab = counter.vocabulary(min_count=1)
        self.assertEqual(vocab.values.to_pylist(), ["b", "a", "", "c"])
        self.assertEqual(vocab.size, 5)
        ids = vocab.encode(pa.array(["a", "b", "zzz", None, "", "c"]))
        self.assertEqual(ids.tolist(), [2, 1, 0, 0, 3, 4])
        self.assertEqual(ids.dtype, np.int32)
        rare = counter.vocabulary(min_count=2)
        self.assertEqual(rare.values.to_pylist(), ["b", "a"])
        self.assertEqual(rare.encode(pa.array(["c", "a"])).tolist(), [0, 2])
        self.assertEqual(rare.describe(), {"values": 2, "distinct_in_train": 4})

    def test_empty(self) -> None:
        vocab = ValueCounter().vocabulary(1)
        self.assertEqual(vocab.size, 1)
        self.assertEqual(vocab.encode(pa.array(["x"])).tolist(), [0])

    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.lists(st.sampled_from(["a", "b", "c", "d", "\u00e9", "", "aa"]), max_size=30),
            max_size=8,
        ),
        st.integers(1, 3),
        st.integers(1, 5),
    )
    def test_blockwise_merging_matches_reference(
        self, blocks, min_count, merge_rows
    ) -> None:  # pyre-ignore[2]
        counter = ValueCounter(pending_rows=merge_rows)
        for block in blocks:
            counter.add(pa.array(block, pa.string()))
        vocab = counter.vocabulary(min_count)
        expected = vocabulary([v for b in blocks for v in b], min_count)
        self.assertEqual(vocab.values.to_pylist(), list(expected))


class HashedVocabularyTest(unittest.TestCase):
    def test_stable_ids(self) -> None:
        vocab = HashedVocabulary(1000)
        ids = vocab.encode(pa.array(["a", "b", None, "a", ""]))
        # FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c, of "" the offset basis.
        self.assertEqual(
            ids.tolist(),
            [1 + 0xAF63DC4C8601EC8C % 1000, ids[1], 0, ids[0], 1 + 0xCBF29CE484222325 % 1000],
        )
        self.assertEqual(vocab.size, 1001)
        self.assertTrue(((ids >= 0) & (ids <= 1000)).all())
