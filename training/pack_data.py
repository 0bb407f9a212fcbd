#!/usr/bin/env python3
"""Pack the training and validation photos into two files that travel with the working tree to
the GPU machine (hicodec_train/pack.py says why JPEG q97 4:4:4 and what it costs).

  /usr/bin/python3 training/pack_data.py            # → .data/pack/cid22-train.hpk, cid22-val.hpk
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train.data import default_data_root, list_images  # noqa: E402
from hicodec_train.pack import write_pack  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, default=None, help="training photos (default: ../shared/data/train-src/cid22)")
    p.add_argument("--val", type=Path, default=None, help="validation photos (default: ../shared/data/cid22-val)")
    p.add_argument("--out", type=Path, default=REPO / ".data" / "pack")
    p.add_argument("--quality", type=int, default=97)
    args = p.parse_args(argv)
    train = args.train or default_data_root() / "cid22"
    val = args.val or default_data_root().parent / "cid22-val"
    report = {}
    for name, src in (("cid22-train", train), ("cid22-val", val)):
        report[name] = write_pack(list_images([src]), args.out / f"{name}.hpk", args.quality)
        print(json.dumps(report[name]))
    (args.out / "pack.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
