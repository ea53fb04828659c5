import os
import tempfile
import unittest

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.preprocessing.helpers import vocabulary
from torchrec_dlf.preprocessing.errors import PreparationError
from torchrec_dlf.preprocessing.vocabulary import (
    CountedVocabulary,
    HashedVocabulary,
    ValueCounter,
    load_vocabulary,
    save_vocabularies,
    vocabulary_files,
)


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
            st.lists(
                st.sampled_from(["a", "b", "c", "d", "\u00e9", "", "aa"]), max_size=30
            ),
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
            [
                1 + 0xAF63DC4C8601EC8C % 1000,
                ids[1],
                0,
                ids[0],
                1 + 0xCBF29CE484222325 % 1000,
            ],
        )
        self.assertEqual(vocab.size, 1001)
        self.assertTrue(((ids >= 0) & (ids <= 1000)).all())


class SavedVocabularyTest(unittest.TestCase):
    def test_save_and_load(self) -> None:
        counter = ValueCounter()
        counter.add(pa.array(["b", "a", "c", "b", "", "a", "b", "\u00e9"]))
        vocab = counter.vocabulary(min_count=1)
        with tempfile.TemporaryDirectory() as d:
            paths = []

            def file_path(rel: str) -> str:
                paths.append(rel)
                os.makedirs(os.path.join(d, os.path.dirname(rel)), exist_ok=True)
                return os.path.join(d, rel)

            files = save_vocabularies({"f": vocab, "h": HashedVocabulary(7)}, file_path)
            self.assertEqual(files, {"f": "vocabulary/f.parquet"})
            self.assertEqual(paths, ["vocabulary/f.parquet"])
            table = pq.read_table(os.path.join(d, "vocabulary", "f.parquet"))
            self.assertEqual(
                table.to_pydict(),
                {
                    "value": ["b", "a", "", "c", "\u00e9"],
                    "id": [1, 2, 3, 4, 5],
                    "count": [3, 2, 1, 1, 1],
                },
            )
            loaded = load_vocabulary(d, files["f"], vocab.distinct, 1)
            values = pa.array(["a", "zz", None, "\u00e9", "", "b"])
            self.assertEqual(
                loaded.encode(values).tolist(), vocab.encode(values).tolist()
            )
            self.assertEqual(
                (loaded.size, loaded.describe()), (vocab.size, vocab.describe())
            )
            with self.assertRaises(PreparationError) as ctx:
                load_vocabulary(d, "vocabulary/g.parquet", 0, 1)
            self.assertEqual(
                str(ctx.exception),
                f"{d}/vocabulary/g.parquet: the saved vocabulary file is missing",
            )

    def test_bad_tables(self) -> None:
        good = CountedVocabulary(pa.array(["x", "y"]), np.array([2, 1]), 2, 1).table()
        self.assertEqual(
            CountedVocabulary.from_table(good, 2, 1).values.to_pylist(), ["x", "y"]
        )
        binary = good.set_column(0, "value", pa.array([b"x", b"y"]))
        self.assertEqual(
            CountedVocabulary.from_table(binary, 2, 1).values.type, pa.string()
        )
        cases = [
            (
                good.drop_columns(["count"]),
                "v: no column ['count'] (a saved vocabulary has "
                "['value', 'id', 'count'])",
            ),
            (
                good.set_column(1, "id", pa.array([2, 1], pa.int32())),
                "v: the ids are not 1..2 in order",
            ),
            (
                good.set_column(0, "value", pa.array(["x", "x"])),
                "v: a value is missing or appears twice",
            ),
            (
                good.set_column(0, "value", pa.array(["x", None])),
                "v: a value is missing or appears twice",
            ),
        ]
        for table, message in cases:
            with self.assertRaises(PreparationError) as ctx:
                CountedVocabulary.from_table(table, 2, 1, where="v")
            self.assertEqual(str(ctx.exception), message)

    def test_file_names(self) -> None:
        self.assertEqual(
            vocabulary_files(["C1", "a/b", "..", "c1", "field_1", "x y", "user.id"]),
            {
                "C1": "vocabulary/C1.parquet",
                "a/b": "vocabulary/field_1.parquet",
                "..": "vocabulary/field_2.parquet",
                "c1": "vocabulary/field_3.parquet",
                "field_1": "vocabulary/field_4.parquet",
                "x y": "vocabulary/field_5.parquet",
                "user.id": "vocabulary/user.id.parquet",
            },
        )
