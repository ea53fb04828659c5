"""A stable, vectorised hash of string values (the same on every machine and run)."""

import numpy as np
import pyarrow as pa

from torchrec_dlf.preprocessing.column_parsers import value_bytes, value_lengths

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


def fnv1a_64(values: pa.Array) -> np.ndarray:
    """
    64-bit FNV-1a of the UTF-8 bytes of every value (``h = 0xcbf29ce484222325``; for
    each byte ``h = (h ^ byte) * 0x100000001b3 mod 2**64``), as uint64. Nulls hash like
    the empty string. Vectorised over rows, one step per byte position.
    """
    lengths = value_lengths(values)
    data = value_bytes(values)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    h = np.full(len(values), FNV_OFFSET, dtype=np.uint64)
    active = np.arange(len(values))
    position = 0
    with np.errstate(over="ignore"):
        while True:
            active = active[lengths[active] > position]
            if active.size == 0:
                return h
            byte = data[starts[active] + position].astype(np.uint64)
            h[active] = (h[active] ^ byte) * FNV_PRIME
            position += 1


def fnv1a_64_of(value: bytes) -> int:
    """The scalar reference of `fnv1a_64`."""
    h = int(FNV_OFFSET)
    for b in value:
        h = ((h ^ b) * int(FNV_PRIME)) % 2**64
    return h
