#!/usr/bin/env python3
"""Pack the training and validation photos into two files that travel with the working tree to
the GPU machine (hicodec_train/pack.py says why JPEG 4:4:4 at q97 and what it costs).

  /usr/bin/python3 training/pack_data.py            # → .data/pack/cid22-train.hpk, cid22-val.hpk

`--fit-mib M` fits both packs together into M MiB: the working tree that travels is limited (64
MiB) and what the repository itself takes grows (training/recipes/gpu.sh pack passes what is left).
Each photo then gets its own quality (--min-quality … --quality): the lowest that reaches a common
PSNR floor, the floor as high as the room allows (hicodec_train/pack.py, fit_qualities).
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
from hicodec_train.pack import fit_qualities, write_pack  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, default=None, help="training photos (default: ../shared/data/train-src/cid22)")
    p.add_argument("--val", type=Path, default=None, help="validation photos (default: ../shared/data/cid22-val)")
    p.add_argument("--out", type=Path, default=REPO / ".data" / "pack")
    p.add_argument("--quality", type=int, default=97)
    p.add_argument("--fit-mib", type=float, default=None, help="both packs together in at most this many MiB (a quality per photo)")
    p.add_argument("--min-quality", type=int, default=90, help="the lowest quality --fit-mib may give a photo")
    p.add_argument("--val-count", type=int, default=None, help="pack only the first N validation photos")
    args = p.parse_args(argv)
    train = args.train or default_data_root() / "cid22"
    val = args.val or default_data_root().parent / "cid22-val"
    sets = (("cid22-train", list_images([train])), ("cid22-val", list_images([val])[: args.val_count]))
    quality = {name: args.quality for name, _ in sets}
    if args.fit_mib is not None:
        files = [f for _, fs in sets for f in fs]
        overhead = 24 + sum(12 + len(f.name.encode()) for f in files)  # the packs' headers and names
        fit = fit_qualities(files, int(args.fit_mib * 2**20) - overhead, range(min(args.min_quality, args.quality), args.quality + 1))
        if fit is None:
            print(f"the packs do not fit in {args.fit_mib:.1f} MiB even at q{args.min_quality}", file=sys.stderr)
            return 2
        qs, floor = fit
        n = len(sets[0][1])
        quality = {sets[0][0]: qs[:n], sets[1][0]: qs[n:]}
        print(f"# a quality per photo, q{min(qs)}–q{max(qs)}: {floor:.2f} dB at worst", file=sys.stderr)
    # written beside the packs and moved over them at the end: a failure leaves the last good ones
    tmp = args.out / ".new"
    report = {name: write_pack(files, tmp / f"{name}.hpk", quality[name]) for name, files in sets}
    for name, _ in sets:
        (tmp / f"{name}.hpk").replace(args.out / f"{name}.hpk")
        report[name]["file"] = str(args.out / f"{name}.hpk")
        print(json.dumps(report[name]))
    tmp.rmdir()
    (args.out / "pack.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
