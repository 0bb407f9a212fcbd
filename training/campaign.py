#!/usr/bin/env python3
"""The training campaign's measurements (issue: the model trains whenever the project is worked on).

  # evaluate a checkpoint (or a package) on the validation sets and Kodak, exact code lengths:
  /usr/bin/python3 training/campaign.py eval runs/campaign/last.pt --out runs/campaign/evals/NAME.json
  # the shipped model, evaluated the same way (the reference for BD-rates; cached by package id):
  /usr/bin/python3 training/campaign.py eval models/hic-base-v4 --out bench/results/campaign/ref-hic-base-v4.json
  # what the linear path of a latent of M channels carries (the ceiling without non-linear help):
  /usr/bin/python3 training/campaign.py dct-bound --set kodak --out bench/results/dct-bound-kodak.json
  # add a row to training/campaign.json and regenerate training/CAMPAIGN.md and the learning-curve plot:
  /usr/bin/python3 training/campaign.py log runs/campaign/evals/NAME.json --ref bench/results/campaign/ref-hic-base-v4.json \\
      --note "what this stretch was"

Sets (never tuned on Kodak: it is only measured):
- cid22-val: the 41 validation photos, whole (512²), at λ 0.0018, 0.013 and 0.0483 (points every
  model here has trained);
- large: the 4 photos of ../shared/data/large (~2048 px, whole images: the PyTorch path codes them
  untiled, where the product uses 1024-px tiles, +0.7% bytes on this set), qualities 0/33/67/100;
- kodak: 24 images, qualities 0/20/40/60/80/100.
bpp is the exact ideal code length under the integer tables (eval.py), without the container's
~40 header bytes; BD-rates use the piecewise-cubic Bjøntegaard integral (hicodec_train.metrics).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval import eval_files_at  # noqa: E402
from hicodec_train.alloc import tune_allocator  # noqa: E402
from hicodec_train.data import load_image  # noqa: E402
from hicodec_train.metrics import bd_rate, psnr  # noqa: E402
from hicodec_train.model import HiCodec, ModelConfig, campaign_totals, line_minutes, load_checkpoint, portable_checkpoint  # noqa: E402
from hicodec_train.package import round_weights_fp16  # noqa: E402
from hicodec_train.plot import line_plot, psnr_at_bpp  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HICODEC_DATA", REPO.parent / "shared" / "data"))
LARGE_PHOTOS = ("100f17892cf7bb12beb12479641fcc4c.png", "28d24b9c83de066597ff96a68769884f.png",
                "8bb119b8ca17492392e1e3ea4b811b32.png", "9466a908d088d32ee73f04116c40e48c.png")
VAL_LAMBDAS = (0.0018, 0.013, 0.0483)
LARGE_QUALITIES = (0.0, 33.0, 67.0, 100.0)
KODAK_QUALITIES = (0.0, 20.0, 40.0, 60.0, 80.0, 100.0)
CAMPAIGN_JSON = REPO / "training" / "campaign.json"
CAMPAIGN_MD = REPO / "training" / "CAMPAIGN.md"
PLOT = REPO / "bench" / "results" / "campaign-learning-curve.svg"
KODAK_BENCH = REPO / "bench" / "results" / "kodak-2026-11-26-v4.json"  # WebP and AVIF e9 curves, real bytes


def load_model(path: Path):
    if path.is_dir():
        from hicodec_train.package import load_package_model

        model, manifest = load_package_model(path)
        t = manifest["training"]
        info = dict(source=f"package {manifest['id']}", id=manifest["id"], crops_seen=t.get("crops_seen"), steps=t.get("steps"))
        return model, info
    ck = load_checkpoint(path)
    model = HiCodec(ModelConfig(**ck["config"]))
    model.load_state_dict(ck["ema"] if ck.get("ema") else ck["model"])
    model.eval()
    round_weights_fp16(model)
    line = line_minutes(ck)
    info = dict(source=f"checkpoint {path}", weights="EMA" if ck.get("ema") else "last", step=ck["step"], crops_seen=ck.get("crops_seen"),
                cpu_minutes=round(line["cpu_minutes"], 1), record=ck.get("record", {}))
    if line["gpu_minutes"]:
        info["gpu_minutes"] = round(line["gpu_minutes"], 1)
    return model, info


def quality_of_lambda(model: HiCodec, lam: float) -> float:
    lams, quals = model.cfg.lambdas, model.cfg.qualities
    for l, q in zip(lams, quals):
        if abs(l - lam) < 1e-9:
            return float(q)
    raise ValueError(f"λ {lam} is not a point of this model ({lams})")


def eval_set(model, files: list[Path], qualities, tables, ceiling: list | None = None) -> list[dict]:
    """A row per quality (mean bpp and PSNR, and the images'): one g_a per image for all of them;
    `ceiling` gets the images' PSNR without quantization (see `ceiling`)."""
    pers = eval_files_at(model, files, qualities, *tables, with_ms_ssim=False, ceiling=ceiling)
    return [dict(quality=q, bpp=float(np.mean([p["bpp"] for p in per])), psnr=float(np.mean([p["psnr"] for p in per])), images=per)
            for q, per in zip(qualities, pers)]


def ceiling_summary(vals: list[float]) -> dict:
    return dict(mean=round(float(np.mean(vals)), 2), min=round(float(np.min(vals)), 2), images=len(vals))


def ceiling(model, files: list[Path]) -> dict:
    """PSNR of g_s(g_a(x)) with no quantization at all (8-bit output): what the transforms can
    represent, whatever the rate. Mean and min over the images."""
    vals = []
    eval_files_at(model, files, [], None, None, ceiling=vals)  # no quality: only the ceiling's pass
    return ceiling_summary(vals)


def cmd_ceiling(args) -> int:
    """Adds the Kodak ceiling to an existing eval JSON (e.g. a reference evaluated before it existed)."""
    tune_allocator()
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    ev = json.loads(args.out.read_text())
    ev["ceiling_kodak"] = ceiling(model, sorted((DATA / "kodak").glob("*.png"))[: args.limit or None])
    args.out.write_text(json.dumps(ev, indent=1) + "\n")
    print(f"ceiling on Kodak: {ev['ceiling_kodak']}")
    return 0


def dct_bound(files: list[Path], channels) -> dict:
    """PSNR of the linear path alone: each 16×16×3 patch kept as its first M coefficients of the
    shortcuts' DCT basis (transforms.dct_basis, the order of the latent channels), 8-bit output.
    What a latent of M channels at /16 carries without any non-linear help: the ceiling a model
    can reach cheaply, and the reason v6 has more channels than v5."""
    from hicodec_train.model import pad_to
    from hicodec_train.transforms import PATCH, dct_basis

    out = {}
    for m in channels:
        b = dct_basis(m).reshape(m, -1).double()
        vals = []
        for f in files:
            x = load_image(f)
            h, w = x.shape[-2:]
            xp = pad_to(x, PATCH)[0].double()
            H, W = xp.shape[-2:]
            p = xp.reshape(3, H // PATCH, PATCH, W // PATCH, PATCH).permute(1, 3, 0, 2, 4).reshape(-1, 3 * PATCH * PATCH)
            r = ((p @ b.t()) @ b).reshape(H // PATCH, W // PATCH, 3, PATCH, PATCH).permute(2, 0, 3, 1, 4).reshape(3, H, W)
            rec = (r[:, :h, :w].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            vals.append(psnr((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), rec))
        out[str(m)] = dict(mean=round(float(np.mean(vals)), 2), min=round(float(np.min(vals)), 2), images=len(vals))
    return out


def cmd_dct_bound(args) -> int:
    torch.set_num_threads(args.threads)
    files = sorted((DATA / args.set).glob("*.png"))[: args.limit or None]
    res = dict(date=dt.date.today().isoformat(), set=args.set, what="PSNR of the first M DCT coefficients of each 16×16×3 patch",
               channels=dct_bound(files, args.channels))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    for m, v in res["channels"].items():
        print(f"M={m}: {v['mean']:.2f} dB mean, {v['min']:.2f} dB min ({v['images']} images of {args.set})")
    return 0


def coding_tables(model: HiCodec) -> tuple:
    """The integer tables the exact code lengths are counted under (latent, hyper-latent)."""
    return model.tables.build()["tables"], model.entropy_z.build()["tables"]


def val_rows(model: HiCodec, files: list[Path], tables) -> list[dict]:
    """The validation set's points: one row per λ of VAL_LAMBDAS."""
    rows = eval_set(model, files, [quality_of_lambda(model, lam) for lam in VAL_LAMBDAS], tables)
    for r, lam in zip(rows, VAL_LAMBDAS):
        r["lambda"] = lam
    return rows


def cmd_eval(args) -> int:
    tune_allocator()
    torch.set_num_threads(args.threads)
    model, info = load_model(args.model)
    tables = coding_tables(model)
    t0 = time.time()
    val_files = sorted((DATA / "cid22-val").glob("*.png"))
    large_files = [DATA / "large" / n for n in LARGE_PHOTOS]
    kodak_files = sorted((DATA / "kodak").glob("*.png"))
    sets = {}
    with torch.no_grad():
        sets["cid22-val"] = val_rows(model, val_files[: args.limit or None], tables)
        sets["large"] = eval_set(model, large_files[: args.limit or None], LARGE_QUALITIES, tables)
        vals = []  # the ceiling from the same pass: each image's g_a once
        sets["kodak"] = eval_set(model, kodak_files[: args.limit or None], KODAK_QUALITIES, tables, ceiling=vals)
        ceil = ceiling_summary(vals)
    out = dict(date=dt.date.today().isoformat(), model=info, seconds=round(time.time() - t0, 1), sets=sets,
               counts={k: len(v[0]["images"]) for k, v in sets.items()}, ceiling_kodak=ceil)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    if args.model.suffix == ".pt" and not args.no_keep:
        # the evaluated weights, beside their eval: a later, worse last.pt cannot take them away
        # (release format: EMA weights as "model"; `train.py --init` and `export.py` read it)
        keep_weights(args.model, args.out.with_suffix(".pt"))
    for name, rows in sets.items():
        print(f"{name}: " + "  ".join(f"q{r['quality']:g} {r['bpp']:.4f} bpp {r['psnr']:.2f} dB" for r in rows))
    print(f"ceiling on Kodak (no quantization): {ceil}")
    print(f"wrote {args.out} ({out['seconds']} s)")
    return 0


def keep_weights(src: Path, dst: Path) -> None:
    torch.save(portable_checkpoint(load_checkpoint(src), kept_from=str(src)), dst)


def bd(ref_rows, rows) -> float | None:
    try:
        return round(bd_rate([r["bpp"] for r in ref_rows], [r["psnr"] for r in ref_rows], [r["bpp"] for r in rows], [r["psnr"] for r in rows]), 2)
    except ValueError:
        return None


def kodak_anchor(codec: str) -> list[dict] | None:
    if not KODAK_BENCH.exists():
        return None
    return json.loads(KODAK_BENCH.read_text())["summary"]["curves"].get(codec)


def cmd_log(args) -> int:
    ev = json.loads(args.eval.read_text())
    ref = json.loads(args.ref.read_text()) if args.ref else None
    log = json.loads(CAMPAIGN_JSON.read_text()) if CAMPAIGN_JSON.exists() else dict(rows=[])
    s = ev["sets"]
    m = ev["model"]
    # a line restored from the committed state (tools/campaign_state.py) counts on from the totals before it
    off = (m.get("record") or {}).get("campaign_offset")
    cpu, crops, gpu = m.get("cpu_minutes"), m.get("crops_seen"), m.get("gpu_minutes")
    if off and cpu is not None and crops is not None:
        t = campaign_totals(off, dict(cpu_minutes=cpu, gpu_minutes=gpu or 0.0, crops=crops))
        cpu, crops, gpu = t["cpu_minutes"], t["crops"], t.get("gpu_minutes")
    row = dict(date=ev["date"], label=args.label, note=args.note, model=m, kind="reference" if args.reference else "campaign",
               cpu_minutes_total=args.cpu_minutes if args.cpu_minutes is not None else cpu, crops_seen=crops,
               val=[dict(lam=r["lambda"], bpp=round(r["bpp"], 4), psnr=round(r["psnr"], 3)) for r in s["cid22-val"]],
               large=[dict(quality=r["quality"], bpp=round(r["bpp"], 4), psnr=round(r["psnr"], 3)) for r in s["large"]],
               kodak=[dict(quality=r["quality"], bpp=round(r["bpp"], 4), psnr=round(r["psnr"], 3)) for r in s["kodak"]],
               ceiling_kodak=ev.get("ceiling_kodak"))
    if gpu:
        row["gpu_minutes_total"] = gpu
    if ref:
        row["reference"] = ref["model"].get("id") or ref["model"]["source"]
        row["bd_rate_vs_reference"] = {k: bd(ref["sets"][k], s[k]) for k in ("cid22-val", "large", "kodak")}
    for codec in ("webp", "avif-e9"):
        a = kodak_anchor(codec)
        if a:
            row.setdefault("kodak_bd_rate_vs", {})[codec] = bd(a, s["kodak"])
    log["rows"] = [r for r in log["rows"] if r["label"] != args.label] + [row]
    CAMPAIGN_JSON.write_text(json.dumps(log, indent=1) + "\n")
    write_report(log)
    print(json.dumps({k: row.get(k) for k in ("label", "bd_rate_vs_reference", "kodak_bd_rate_vs")}, indent=1))
    return 0


def _pct(v) -> str:
    return "–" if v is None else f"{v:+.1f}%"


def write_report(log: dict) -> None:
    rows = log["rows"]
    md = ["# The training campaign", "",
          "Written by `training/campaign.py log` (do not edit the table by hand). One row per stretch of training; "
          "bpp are exact code lengths under the integer tables (no container header), PSNR on 8-bit RGB; BD-rates "
          "(negative = fewer bits for the same PSNR) against the shipped model evaluated the same way, and on Kodak "
          f"against WebP and AVIF effort 9 (real bytes, [{KODAK_BENCH.name}](../bench/results/{KODAK_BENCH.name})). "
          "Validation: cid22-val (41 photos, 512²) at λ 0.0018 / 0.013 / 0.0483 and the 4 large photos (~2048 px). "
          "The learning curve: [bench/results/campaign-learning-curve.svg](../bench/results/campaign-learning-curve.svg).", "",
          "| date | stretch | CPU-min (total) | crops seen | cid22-val bpp / dB at 3 λ | large bpp / dB (q0/33/67/100) | "
          "BD vs shipped: val / large / Kodak | Kodak BD vs WebP / AVIF e9 | Kodak ceiling (mean / min dB) |",
          "|---|---|---:|---:|---|---|---|---|---|"]
    for r in rows:
        b = r.get("bd_rate_vs_reference") or {}
        k = r.get("kodak_bd_rate_vs") or {}
        gpu = f" + {r['gpu_minutes_total']} GPU" if r.get("gpu_minutes_total") else ""
        md.append(f"| {r['date']} | {r['label']}{': ' + r['note'] if r.get('note') else ''} | {r.get('cpu_minutes_total') or '–'}{gpu} | "
                  f"{r.get('crops_seen') or '–'} | " + ", ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in r["val"]) + " | "
                  + ", ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in r["large"]) + " | "
                  + f"{_pct(b.get('cid22-val'))} / {_pct(b.get('large'))} / {_pct(b.get('kodak'))} | {_pct(k.get('webp'))} / {_pct(k.get('avif-e9'))} | "
                  + (f"{r['ceiling_kodak']['mean']:.1f} / {r['ceiling_kodak']['min']:.1f}" if r.get("ceiling_kodak") else "–") + " |")
    md.append("")
    if log.get("milestones"):
        names = {"mozjpeg-444": "mozjpeg 4:4:4", "webp": "WebP", "jxl-e7": "JPEG XL e7", "avif-e4": "AVIF e4", "avif-e9": "AVIF e9"}
        md += ["## Milestones", "",
               "BD-rate (PSNR, real file bytes, `hic bench`; negative = hicodec needs fewer bits) of a shipped model against the "
               "codecs to pass, on Kodak and on the 4 large photos of `../shared/data/large`; ✓ where it is ≤ 0. "
               "† a row reused from an earlier run of the same images (`--reuse`); – not measured. Recorded with "
               "`training/campaign.py milestone bench/results/<run>.json --set kodak|large`.", "",
               "| date | model | set | " + " | ".join(names[c] for c in MILESTONE_CODECS) + " | run |",
               "|---|---|---|" + "---:|" * len(MILESTONE_CODECS) + "---|"]
        for m in log["milestones"]:
            cells = []
            for c in MILESTONE_CODECS:
                v = m["bd_rate_psnr"].get(c)
                cells.append("–" if v is None else f"{v:+.1f}%{'†' if c in m.get('reused', []) else ''}{' ✓' if v <= 0 else ''}")
            md.append(f"| {m['date']} | {m['model']} | {m['set']} | " + " | ".join(cells) + f" | [{m['bench']}](../bench/results/{m['bench']}) |")
        md.append("")
    CAMPAIGN_MD.write_text("\n".join(md) + "\n")
    series = []
    for kind, dashed in (("campaign", False), ("reference", True)):
        for target in (0.25, 0.5, 1.0):
            pts = [((r.get("cpu_minutes_total") or 0) / 60, psnr_at_bpp(r["val"], target)) for r in rows
                   if r.get("cpu_minutes_total") and r.get("kind", "campaign") == kind]
            if any(y is not None for _, y in pts):
                series.append(dict(label=f"{'shipped ' if kind == 'reference' else ''}{target} bpp", pts=pts, dashed=dashed))
    if series:
        PLOT.parent.mkdir(parents=True, exist_ok=True)
        PLOT.write_text(line_plot(series, "Campaign: cid22-val PSNR at fixed bpp", "CPU-hours of training (cumulative)", "PSNR (dB)", logx=True))


# the milestones: the codecs to pass, in order, on both sets
MILESTONE_CODECS = ("mozjpeg-444", "webp", "jxl-e7", "avif-e4", "avif-e9")


def cmd_milestone(args) -> int:
    """Records the BD-rates (PSNR, real bytes) of a `hic bench` run in campaign.json's milestones
    (one entry per set and model; a newer run of the same set and model replaces it)."""
    bench = json.loads(args.bench.read_text())
    vs = bench["summary"]["vs_measured"]
    model = bench["model"] if isinstance(bench["model"], str) else bench["model"]["id"]
    reused = (bench.get("reused") or {}).get("codecs", [])
    entry = dict(date=bench["machine"]["date"][:10], model=model, set=args.set, bench=args.bench.name,
                 bd_rate_psnr={c: round(vs[c]["bd_rate_psnr"], 1) for c in MILESTONE_CODECS if c in vs and vs[c].get("bd_rate_psnr") is not None},
                 reused=[c for c in reused if c in MILESTONE_CODECS])
    log = json.loads(CAMPAIGN_JSON.read_text()) if CAMPAIGN_JSON.exists() else dict(rows=[])
    ms = [m for m in log.get("milestones", []) if not (m["set"] == entry["set"] and m["model"] == entry["model"])]
    log["milestones"] = ms + [entry]
    CAMPAIGN_JSON.write_text(json.dumps(log, indent=1) + "\n")
    write_report(log)
    print(json.dumps(entry))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval")
    e.add_argument("model", type=Path, help="checkpoint (.pt; EMA weights when kept) or package folder")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--limit", type=int, default=0, help="only the first N images of each set (smoke runs)")
    e.add_argument("--no-keep", action="store_true", help="do not keep the evaluated weights beside the eval (OUT with .pt)")
    c = sub.add_parser("ceiling", help="add the Kodak ceiling (g_s(g_a(x)), no quantization) to an eval JSON")
    c.add_argument("model", type=Path)
    c.add_argument("--out", type=Path, required=True, help="the eval JSON to update")
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--limit", type=int, default=0)
    d = sub.add_parser("dct-bound", help="PSNR of the linear path alone (first M DCT coefficients per patch)")
    d.add_argument("--set", default="kodak", help="a folder of ../shared/data (kodak, cid22-val, …)")
    d.add_argument("--channels", type=int, nargs="+", default=[192, 320, 384, 512])
    d.add_argument("--out", type=Path, default=None)
    d.add_argument("--threads", type=int, default=1)
    d.add_argument("--limit", type=int, default=0)
    lg = sub.add_parser("log")
    lg.add_argument("eval", type=Path)
    lg.add_argument("--ref", type=Path, default=None, help="the shipped model's eval (same tool)")
    lg.add_argument("--label", required=True)
    lg.add_argument("--note", default="")
    lg.add_argument("--cpu-minutes", type=float, default=None, help="cumulative CPU-minutes (default: the checkpoint's)")
    lg.add_argument("--reference", action="store_true", help="a shipped model's row: shown in the table and as its own point in the plot")
    mi = sub.add_parser("milestone", help="record a `hic bench` run's BD-rates against the issue's codecs")
    mi.add_argument("bench", type=Path, help="bench/results/<run>.json")
    mi.add_argument("--set", required=True, help="kodak or large")
    args = p.parse_args(argv)
    return {"eval": cmd_eval, "ceiling": cmd_ceiling, "log": cmd_log, "dct-bound": cmd_dct_bound, "milestone": cmd_milestone}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
