"""Reference rANS coder (pure Python) over the integer tables of entropy.py.

This is the executable specification the TypeScript coder must match byte for byte: 32-bit
state, byte-wise renormalization, 16-bit frequencies, lower bound L = 2^23. Symbols are encoded
in reverse so the decoder reads forward. A value outside its table's range is sent as the
escape symbol (the table's last entry) followed by a bypass payload:

  u  = 2·(−s−1)+1 if s < 0, else 2·(s−n)   (zig-zag distance past the range [0, n))
  nb = bit length of u (u < 2^31)            5 bits
  the nb−1 bits of u below its leading 1     in chunks of at most 16 bits, high chunk first

A bypass chunk of b bits is coded as a symbol of frequency 2^(16−b), i.e. exactly b bits.
Slow, but it only runs in tests and golden-vector generation.
"""
from __future__ import annotations

import numpy as np

PREC = 16
L = 1 << 23


def escape_payload_bits(s: int, n: int) -> int:
    """Bits of the bypass payload for relative symbol s outside [0, n)."""
    u = 2 * (-s - 1) + 1 if s < 0 else 2 * (s - n)
    nb = int(u).bit_length()
    return 5 + max(nb - 1, 0)


def _cum(freqs: np.ndarray) -> np.ndarray:
    c = np.zeros(freqs.size + 1, np.int64)
    c[1:] = np.cumsum(freqs)
    return c


def _ops(symbols, table_ids, tables, cums):
    """Flatten the symbols into (start, freq) coding operations in stream order."""
    ops = []
    for s_raw, t_id in zip(symbols, table_ids):
        t = tables[int(t_id)]
        f, c = t["freqs"], cums[int(t_id)]
        n = f.size - 1
        s = int(s_raw) - t["offset"]
        if 0 <= s < n:
            ops.append((int(c[s]), int(f[s])))
            continue
        ops.append((int(c[n]), int(f[n])))
        u = 2 * (-s - 1) + 1 if s < 0 else 2 * (s - n)
        if u >= 1 << 31:
            raise ValueError("escape value out of range")
        nb = u.bit_length()
        ops.append(_bypass(nb, 5))
        rest = nb - 1
        while rest > 0:
            b = min(16, rest)
            rest -= b
            ops.append(_bypass((u >> rest) & ((1 << b) - 1), b))
    return ops


def _bypass(value: int, bits: int):
    f = 1 << (PREC - bits)
    return (value * f, f)


def encode(symbols, table_ids, tables) -> bytes:
    cums = [_cum(t["freqs"]) for t in tables]
    ops = _ops(symbols, table_ids, tables, cums)
    x = L
    out = bytearray()
    for start, freq in reversed(ops):
        x_max = ((L >> PREC) << 8) * freq
        while x >= x_max:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // freq) << PREC) + (x % freq) + start
    for _ in range(4):
        out.append(x & 0xFF)
        x >>= 8
    out.reverse()
    return bytes(out)


class Decoder:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 4
        if len(data) < 4:
            raise ValueError("truncated stream")
        self.x = int.from_bytes(data[:4], "big")

    def _get(self, freqs_cum: np.ndarray) -> int:
        slot = self.x & ((1 << PREC) - 1)
        s = int(np.searchsorted(freqs_cum, slot, side="right")) - 1
        start, freq = int(freqs_cum[s]), int(freqs_cum[s + 1] - freqs_cum[s])
        self._advance(start, freq, slot)
        return s

    def _advance(self, start, freq, slot):
        self.x = freq * (self.x >> PREC) + slot - start
        while self.x < L:
            if self.pos >= len(self.data):
                raise ValueError("truncated stream")
            self.x = (self.x << 8) | self.data[self.pos]
            self.pos += 1

    def bits(self, b: int) -> int:
        f = 1 << (PREC - b)
        slot = self.x & ((1 << PREC) - 1)
        v = slot // f
        self._advance(v * f, f, slot)
        return v

    def decode(self, table: dict, cum: np.ndarray) -> int:
        n = table["freqs"].size - 1
        s = self._get(cum)
        if s < n:
            return s + table["offset"]
        nb = self.bits(5)
        u = 1 if nb > 0 else 0
        rest = nb - 1
        while rest > 0:
            b = min(16, rest)
            rest -= b
            u = (u << b) | self.bits(b)
        if nb == 0:
            u = 0
        s = -(u - 1) // 2 - 1 if u & 1 else u // 2 + n
        return s + table["offset"]


def decode(data: bytes, table_ids, tables) -> np.ndarray:
    cums = [_cum(t["freqs"]) for t in tables]
    d = Decoder(data)
    out = np.array([d.decode(tables[int(t)], cums[int(t)]) for t in table_ids], np.int64)
    if d.x != L or d.pos != len(data):  # a stream ends exactly where its symbols end
        raise ValueError("corrupt stream")
    return out
