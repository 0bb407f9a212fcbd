#!/usr/bin/env python3
"""Is the campaign data-bound? Codes training photos and validation photos with two models (an
earlier one A and a later one B, same λ points) and compares what B gained over A on each set, per
image: mean change of ln(bpp) and of PSNR at the same λ. A model that memorises its 206 training
photos gains more on them than on photos it has not seen; equal gains say more data would not be
the lever yet (more training or capacity would).

First finding (2026-12-03; A = hic-base-v7 at 641.7 CPU-minutes, B = the campaign's eval at 966.4,
60 training photos and the 41 of cid22-val, λ 0.0018 and 0.0483, exact code lengths): training
photos −4.42% / −4.85% bpp for −0.04 / −0.18 dB, validation photos −4.71% / −4.00% for −0.04 /
−0.15 dB: the same gain on both, no sign of memorising.

  /usr/bin/python3 training/tools/train_val_gap.py models/hic-base-v7 runs/campaign/evals/X.pt \\
      --out bench/results/train-val-gap-DATE.json
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import campaign  # noqa: E402
from hicodec_train.alloc import tune_allocator  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="the earlier model: a package folder or checkpoint")
    p.add_argument("b", type=Path, help="the later model")
    p.add_argument("--train", type=Path, default=campaign.DATA / "train-src" / "cid22")
    p.add_argument("--val", type=Path, default=campaign.DATA / "cid22-val")
    p.add_argument("--count", type=int, default=60, help="at most this many photos of each set (the first by name)")
    p.add_argument("--lambdas", default="0.0018,0.0483")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="write the figures here (JSON)")
    args = p.parse_args(argv)
    tune_allocator()
    torch.set_num_threads(args.threads)
    lams = [float(v) for v in args.lambdas.split(",")]
    sets = {"train": sorted(args.train.glob("*.png"))[: args.count], "val": sorted(args.val.glob("*.png"))[: args.count]}
    rows = {}
    for key, path in (("a", args.a), ("b", args.b)):
        model, _ = campaign.load_model(path)
        tables = campaign.coding_tables(model)
        qs = [campaign.quality_of_lambda(model, lam) for lam in lams]
        with torch.no_grad():
            rows[key] = {name: campaign.eval_set(model, files, qs, tables) for name, files in sets.items()}
    out = dict(date=dt.date.today().isoformat(), a=str(args.a), b=str(args.b), lambdas=lams, counts={k: len(v) for k, v in sets.items()},
               sets={})
    for name in sets:
        per = []
        for i, lam in enumerate(lams):
            ia, ib = rows["a"][name][i]["images"], rows["b"][name][i]["images"]
            assert [r["image"] for r in ia] == [r["image"] for r in ib]
            d_rate = float(np.mean([np.log(y["bpp"] / x["bpp"]) for x, y in zip(ia, ib)]))
            d_psnr = float(np.mean([y["psnr"] - x["psnr"] for x, y in zip(ia, ib)]))
            per.append(dict(lam=lam, rate_pct=round(100 * d_rate, 2), psnr_db=round(d_psnr, 3),
                            a=[round(rows["a"][name][i][k], 4) for k in ("bpp", "psnr")],
                            b=[round(rows["b"][name][i][k], 4) for k in ("bpp", "psnr")]))
            print(f"{name} λ {lam}: B against A {100 * d_rate:+.2f}% bpp, {d_psnr:+.3f} dB", flush=True)
        out["sets"][name] = per
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
