#!/usr/bin/env python3
"""Writes tests/golden/rans-v1.json: coder golden vectors shared by the Python and TypeScript tests.
Each case holds its own tables (offset + frequencies), the symbols with their table ids, and the
exact bytes the reference coder (training/hicodec_train/rans.py) writes for them."""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hicodec_train import rans  # noqa: E402
from hicodec_train.entropy import GaussianTables, quantize_pmf  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "golden" / "rans-v1.json"


def cases():
    g = GaussianTables().build()["tables"]
    pick = [0, 5, 10, 20, 32, 40, 50, 63]
    tables = [g[i] for i in pick]
    rng = np.random.default_rng(2026)
    ids = rng.integers(0, len(tables), 400)
    scales = GaussianTables().scales()[np.array(pick)][ids]
    sym = np.round(rng.normal(0, scales)).astype(np.int64)
    sym[::37] = rng.integers(-3000, 3000, sym[::37].size)
    sym[:8] = [0, 2**30 - 1, -(2**30), 1, -1, 65535, -65536, 12345]
    yield "gaussian-subset", tables, ids, sym
    # a tiny hand-made table: 3 symbols + escape, heavy skew
    t = [dict(offset=-1, freqs=quantize_pmf(np.array([0.1, 0.85, 0.05]), 1e-4))]
    s = np.array([0, 0, 1, -1, 0, 0, 5, -9, 0, 1, 0, 0, 0, -2, 2, 0])
    yield "tiny-skewed", t, np.zeros(s.size, np.int64), s
    yield "empty", t, np.zeros(0, np.int64), np.zeros(0, np.int64)


def main():
    out = []
    for name, tables, ids, sym in cases():
        data = rans.encode(sym, ids, tables)
        assert np.array_equal(rans.decode(data, ids, tables), sym)
        out.append(dict(name=name, tables=[dict(offset=int(t["offset"]), freqs=[int(f) for f in t["freqs"]]) for t in tables],
                        table_ids=[int(i) for i in ids], symbols=[int(v) for v in sym], bytes_hex=data.hex()))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(dict(format="hicodec rANS v1 golden vectors", cases=out)) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
