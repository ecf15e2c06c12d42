"""A fixed-size Bloom filter: the bounded "seen" state of the corpus dedup and of baseline sampling."""

from __future__ import annotations

import hashlib
import math


class BloomFilter:
    """A fixed-size set of keys with no false negatives; `add` says whether the key was new."""

    def __init__(self, capacity: int, error_rate: float = 1e-3):
        bits = max(64, int(-capacity * math.log(error_rate) / (math.log(2) ** 2)))
        self.k = max(1, min(8, round(bits / capacity * math.log(2))))
        self.m = bits
        self.bits = bytearray((bits + 7) // 8)

    def _indices(self, key: bytes) -> list[int]:
        d = hashlib.blake2b(key, digest_size=16).digest()
        h1, h2 = int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little") | 1
        return [(h1 + i * h2) % self.m for i in range(self.k)]

    def __contains__(self, key: bytes) -> bool:
        return all(self.bits[i >> 3] >> (i & 7) & 1 for i in self._indices(key))

    def add(self, key: bytes) -> bool:
        new = False
        for i in self._indices(key):
            byte, bit = i >> 3, 1 << (i & 7)
            if not self.bits[byte] & bit:
                new = True
                self.bits[byte] |= bit
        return new
