"""Integer CDF tables and the reference rANS coder: tables are valid, survive their binary file,
and symbols (including escapes far outside a table) round-trip through the coder at a size
close to the ideal code length. Golden bytes pin the coder for the TypeScript implementation."""
import hashlib

import numpy as np
import pytest
import torch

from hicodec_train import rans
from hicodec_train.entropy import FactorizedPrior, GaussianTables, bits_with_tables, quantize_pmf
from hicodec_train.package import read_tables, write_tables


@pytest.fixture(scope="module")
def gaussian():
    return GaussianTables().build()["tables"]


def test_gaussian_tables_are_valid_and_ordered(gaussian):
    assert len(gaussian) == 64
    widths = [t["freqs"].size for t in gaussian]
    assert widths == sorted(widths) and widths[0] >= 3
    for t in gaussian:
        f = t["freqs"]
        assert f.sum() == 65536 and f.min() >= 1 and f.max() <= 65535
        assert t["offset"] == -(f.size - 2) // 2  # symmetric range -R..R, then the escape
        mid = f.size // 2 - 1  # symbol 0 is the most probable
        assert f[mid] == f[:-1].max()


def test_quantize_pmf_keeps_every_symbol_codable():
    f = quantize_pmf(np.array([1.0, 0.0, 1e-12]), 0.0)
    assert f.sum() == 65536 and (f >= 1).all() and f[0] > 65000


def factorized_tables(seed=0, channels=6):
    torch.manual_seed(seed)
    prior = FactorizedPrior(channels)
    with torch.no_grad():
        prior.quantiles[:, 0, 0] = torch.linspace(-6, -2, channels)
        prior.quantiles[:, 0, 2] = torch.linspace(2, 9, channels)
    return prior.build()["tables"]


def test_table_file_round_trip(tmp_path, gaussian):
    for tables in (gaussian, factorized_tables()):
        p = tmp_path / "t.tables"
        write_tables(p, tables)
        back = read_tables(p)
        assert len(back) == len(tables)
        for a, b in zip(tables, back):
            assert a["offset"] == b["offset"] and np.array_equal(a["freqs"], b["freqs"])
    with pytest.raises(ValueError):
        (tmp_path / "bad.tables").write_bytes(b"HCT0" + bytes(8))
        read_tables(tmp_path / "bad.tables")


def test_factorized_tables_round_trip_through_the_coder():
    tables = factorized_tables(1)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, len(tables), 3000)
    sym = np.round(rng.normal(0, 2.5, ids.size)).astype(np.int64)
    sym[::97] = rng.integers(-5000, 5000, sym[::97].size)  # escapes, both sides
    data = rans.encode(sym, ids, tables)
    assert np.array_equal(rans.decode(data, ids, tables), sym)
    ideal = bits_with_tables(sym, ids, tables) / 8
    assert ideal <= len(data) <= ideal * 1.01 + 8


def test_gaussian_tables_round_trip_with_extreme_escapes(gaussian):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 64, 2000)
    scales = GaussianTables().scales()
    sym = np.round(rng.normal(0, scales[ids])).astype(np.int64)
    sym[:6] = [2**30, -(2**30), 0, 1, -1, 70000]
    data = rans.encode(sym, ids, gaussian)
    assert np.array_equal(rans.decode(data, ids, gaussian), sym)
    with pytest.raises(ValueError):
        rans.decode(data[:-3], ids, gaussian)


def test_coder_golden_bytes(gaussian):
    """Pinned bytes: a change here is a bitstream change (bump the format version)."""
    ids = np.array([0, 10, 20, 30, 40, 50, 63, 63, 5, 5, 32, 32] * 4)
    sym = np.array([0, 1, -2, 3, -4, 5, 100, -100, 7, -40, 0, 9999] * 4)
    data = rans.encode(sym, ids, gaussian)
    assert np.array_equal(rans.decode(data, ids, gaussian), sym)
    assert len(data) == GOLDEN_LEN
    assert hashlib.sha256(data).hexdigest() == GOLDEN_SHA256
    assert data[:16].hex() == GOLDEN_HEAD


GOLDEN_LEN = 69
GOLDEN_SHA256 = "7dd5ecde24901db232c16e219f2bd0b5c3f7b2abf401f52a1b1827d472b10c24"
GOLDEN_HEAD = "3c69a3535cb6994fff25ffff3f818eff"


def test_shared_golden_vectors_decode_and_reencode_exactly():
    """tests/golden/rans-v1.json is shared with the TypeScript coder: both must reproduce it."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tests" / "golden" / "rans-v1.json"
    cases = json.loads(path.read_text())["cases"]
    assert {c["name"] for c in cases} == {"gaussian-subset", "tiny-skewed", "empty"}
    for c in cases:
        tables = [dict(offset=t["offset"], freqs=np.array(t["freqs"], np.int64)) for t in c["tables"]]
        ids, sym = np.array(c["table_ids"], np.int64), np.array(c["symbols"], np.int64)
        data = bytes.fromhex(c["bytes_hex"])
        assert rans.encode(sym, ids, tables) == data
        assert np.array_equal(rans.decode(data, ids, tables), sym)
