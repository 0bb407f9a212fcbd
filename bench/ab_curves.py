#!/usr/bin/env python3
"""Learning curves of training runs at equal CPU-minutes: the validation points every run records
(cid22-val centre crops, EMA weights, lowest / middle / highest λ) against the CPU-minutes spent,
and the validation PSNR at fixed bpp interpolated from them.

  /usr/bin/python3 bench/ab_curves.py runs/ab/v4arch/last.pt:"v4 architecture" runs/ab/v5/last.pt:"v5" \\
      --name ab-v4-v5 [--bpp 0.5,1.0] [--out bench/results]

Writes NAME-DATE.json, .md and one .svg per fixed bpp (PSNR against CPU-minutes).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
from hicodec_train.metrics import bd_rate  # noqa: E402
from hicodec_train.plot import line_plot, psnr_at_bpp  # noqa: E402


def run_curve(path: Path) -> dict:
    ck = torch.load(path, map_location="cpu")
    rec = ck.get("record", {})
    vals = [dict(cpu_minutes=round(v.get("cpu_elapsed", v["elapsed"]) / 60, 2), wall_minutes=round(v["elapsed"] / 60, 2),
                 step=v["step"], crops_seen=v["crops_seen"], points=v["points"]) for v in ck.get("val_history", [])]
    return dict(checkpoint=str(path), arch=ck["config"].get("arch", "v4"), step=ck["step"], crops_seen=ck.get("crops_seen"),
                cpu_minutes=round(ck.get("cpu_elapsed", ck["elapsed"]) / 60, 2), batch=rec.get("batch"), crop=rec.get("crop"),
                lr=rec.get("lr"), hardware=rec.get("hardware"), lambdas=ck["config"]["lambdas"], val=vals)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="CHECKPOINT:LABEL")
    p.add_argument("--name", default="ab")
    p.add_argument("--bpp", default="0.5,1.0", help="fixed bpp values for the PSNR curves")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = p.parse_args(argv)
    runs = []
    for r in args.runs:
        path, _, label = r.partition(":")
        runs.append(dict(label=label or path, **run_curve(Path(path))))
    targets = [float(b) for b in args.bpp.split(",")]
    for r in runs:
        for v in r["val"]:
            v["psnr_at_bpp"] = {str(b): (None if (x := psnr_at_bpp(v["points"], b)) is None else round(x, 3)) for b in targets}
    # BD-rate of each run's last validation curve against the first run's
    base = runs[0]["val"][-1]["points"] if runs[0]["val"] else None
    for r in runs[1:]:
        if base and r["val"]:
            last = r["val"][-1]["points"]
            try:
                r["bd_rate_vs_first_percent"] = round(bd_rate([q["bpp"] for q in base], [q["psnr"] for q in base],
                                                               [q["bpp"] for q in last], [q["psnr"] for q in last]), 2)
            except ValueError as e:  # curves that do not overlap in PSNR
                r["bd_rate_vs_first_percent"] = None
                r["bd_rate_note"] = str(e)
    day = dt.date.today().isoformat()
    stem = args.out / f"{args.name}-{day}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(dict(bench="ab-curves", date=day, runs=runs, fixed_bpp=targets), indent=1) + "\n")
    svgs = []
    for b in targets:
        series = [dict(label=r["label"], pts=[(v["cpu_minutes"], v["psnr_at_bpp"][str(b)]) for v in r["val"]]) for r in runs]
        if not any(y is not None for s in series for _, y in s["pts"]):
            continue
        f = Path(f"{stem}-{str(b).replace('.', 'p')}bpp.svg")
        f.write_text(line_plot(series, f"cid22-val PSNR at {b} bpp (EMA weights)", "CPU-minutes of training", "PSNR (dB)"))
        svgs.append(f.name)
    md = [f"# Learning curves at equal CPU-minutes ({day})", "",
          "Validation: the 41 cid22-val images, centre 256² crops, EMA weights, real rounding, bits from the likelihoods; "
          "CPU-minutes = process CPU time / threads of the training steps (validation and pauses not counted).", ""]
    for r in runs:
        md.append(f"## {r['label']}")
        md.append(f"{r['arch']}, batch {r['batch']}×{r['crop']}², lr {r['lr']}, {r['hardware']}; {r['step']} steps, "
                  f"{r['crops_seen']} crops in {r['cpu_minutes']} CPU-minutes"
                  + (f"; BD-rate of the last validation curve vs {runs[0]['label']}: {r['bd_rate_vs_first_percent']:+.1f}%"
                     if r.get("bd_rate_vs_first_percent") is not None else ""))
        md.append("")
        lams = [f"λ {q['lam']}" for q in (r["val"][0]["points"] if r["val"] else [])]
        md.append("| CPU-min | crops | " + " | ".join(lams) + " | " + " | ".join(f"PSNR @ {b} bpp" for b in targets) + " |")
        md.append("|---:|---:|" + "---|" * len(lams) + "---:|" * len(targets))
        for v in r["val"]:
            md.append(f"| {v['cpu_minutes']:.1f} | {v['crops_seen']} | "
                      + " | ".join(f"{q['bpp']:.3f} bpp {q['psnr']:.2f} dB" for q in v["points"]) + " | "
                      + " | ".join("–" if v["psnr_at_bpp"][str(b)] is None else f"{v['psnr_at_bpp'][str(b)]:.2f}" for b in targets) + " |")
        md.append("")
    md += [f"![{s}]({s})" for s in svgs]
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
