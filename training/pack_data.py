#!/usr/bin/env python3
"""Pack the training and validation photos into two files that travel with the working tree to
the GPU machine (hicodec_train/pack.py says why JPEG 4:4:4 at q97 and what it costs).

  /usr/bin/python3 training/pack_data.py            # → .data/pack/cid22-train.hpk, cid22-val.hpk

`--fit-mib M` lowers the quality from --quality one step at a time (to --min-quality at most) until
both packs together take at most M MiB: the working tree that travels is limited (64 MiB), and what
the repository itself takes grows (training/recipes/gpu.sh pack passes what is left of it).
`--val-count N` packs only the first N validation photos (the device validates for its log; the
campaign's evaluation runs here on all 41).
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
    p.add_argument("--fit-mib", type=float, default=None, help="both packs together at most this many MiB (lowers the quality)")
    p.add_argument("--min-quality", type=int, default=90, help="the lowest quality --fit-mib may go to")
    p.add_argument("--val-count", type=int, default=None, help="pack only the first N validation photos")
    args = p.parse_args(argv)
    train = args.train or default_data_root() / "cid22"
    val = args.val or default_data_root().parent / "cid22-val"
    sets = (("cid22-train", list_images([train])), ("cid22-val", list_images([val])[: args.val_count]))
    for q in range(args.quality, args.min_quality - 1, -1):
        report = {name: write_pack(files, args.out / f"{name}.hpk", q) for name, files in sets}
        total = sum(r["bytes"] for r in report.values()) / 2**20
        if args.fit_mib is None or total <= args.fit_mib:
            break
        print(f"# q{q}: {total:.1f} MiB > {args.fit_mib:.1f} MiB", file=sys.stderr)
    else:
        for name, _ in sets:
            (args.out / f"{name}.hpk").unlink()
        print(f"the packs take {total:.1f} MiB even at q{args.min_quality}: more than the {args.fit_mib:.1f} MiB allowed", file=sys.stderr)
        return 2
    for r in report.values():
        print(json.dumps(r))
    (args.out / "pack.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
