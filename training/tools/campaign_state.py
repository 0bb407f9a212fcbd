#!/usr/bin/env python3
"""The training campaign's state, small enough to commit: what a new machine resumes from.

`runs/` is not committed, and a session that gets a fresh machine finds it empty: twice the
campaign lost what it had trained since the last ship (52 CPU-minutes on 2026-12-02, 516 on
2026-12-03) and restarted from the shipped package. This tool keeps the campaign's weights in
the repository instead, as their difference from the shipped package:

  save:    CHECKPOINT (its EMA weights, else the last) − the package's weights (as
           `load_package_model` rebuilds them), as integers of a step per output channel (one
           step per tensor for vectors): 1/R of the channel's rms weight, or of the difference's
           rms where that is larger (tensors that start at zero); R = 1024 by default, 16 R for the
           tensors that every export stores in fp32 (the factorized prior, the λ gains, tensors
           of fewer than 256 values). The error, at most half a step, is of the order of the fp16
           rounding that every eval and export applies. Measured (`check`) on the campaign at 2,494 steps
           from the package (8 cid22-val photos, 3 λ, BD-rate of the restored weights against
           the checkpoint's EMA): R 64 +0.47% (4.2 MB), 256 +0.045% (6.0 MB), 512 +0.034%
           (7.0 MB), 1024 −0.005% (7.8 MB). Tensors of another shape than the
           package's (a narrowed g_s, the λ gains) are stored whole: fp16 where the export
           stores fp16, else fp32. Everything goes into an lzma-compressed .npz with the
           configuration, the record and the campaign's totals (CPU-minutes and crops since the
           start of v5: the record's `campaign_offset`, which `restore` sets and `train.py`
           carries, plus this line's counters).
  restore: the package + the difference → a portable checkpoint (`train.py --init` reads it, as
           does `campaign.py eval`), with counters from 0 and the totals as `campaign_offset`;
           refused (exit status 3) if the package is not the one it was saved against (its
           files' sha256 in the manifest, the preview heads aside): after a ship the campaign
           starts from the new package.
  check:   what the quantization costs: BD-rate of the restored weights against the checkpoint's
           EMA at each R, on cid22-val photos (the measurements below were made with it).
  ahead:   exit status 0 if the state has trained further than a checkpoint or another state (by
           the campaign's crops in all), 1 if not: a machine that kept an older runs/ must not
           resume it over a newer state, nor a GPU's state replace a newer one (gpu.sh finish).

What does not travel: Adam's moments, the λ balance and the last weights (the EMA is taken for
both); `train.py --init` starts a new optimizer with its warm-up.

  /usr/bin/python3 training/tools/campaign_state.py save runs/campaign/last.pt --base models/hic-base-v7 \\
      --out training/campaign-state.npz.xz
  /usr/bin/python3 training/tools/campaign_state.py restore training/campaign-state.npz.xz \\
      --base models/hic-base-v7 --out runs/campaign/restored.pt
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import lzma
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hicodec_train.model import campaign_totals, line_minutes, load_checkpoint, portable_checkpoint  # noqa: E402
from hicodec_train.package import stored_fp16  # noqa: E402

FORMAT = "hicodec-campaign-state/1"
STALE = 3  # restore's exit status when the state belongs to another package
FINER = 16  # R × this for the tensors that exports store in fp32


class StaleState(Exception):
    """The state was saved against another package than the one given."""


def base_weights(base: Path) -> dict[str, torch.Tensor]:
    from hicodec_train.package import load_package_model

    model, _ = load_package_model(base)
    return {k: v.detach().float().contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}


def package_identity(base: Path) -> tuple[str, str]:
    """The package's id and digest: its files' sha256 as its manifest pins them (which
    `load_package_model` verifies), not the rebuilt floats, whose last bits may differ between CPUs
    and numpy builds. The preview heads are left out: they do not enter the codec's weights."""
    manifest = json.loads((base / "manifest.json").read_text())
    pinned = sorted((n, f["sha256"]) for n, f in manifest["files"].items() if not n.startswith("preview_"))
    return manifest["id"], hashlib.sha256(json.dumps(pinned).encode()).hexdigest()


def rows(a: np.ndarray) -> np.ndarray:
    """A tensor as (output channels, the rest); scalars and vectors as one row."""
    return a.reshape(a.shape[0], -1) if a.ndim >= 2 else a.reshape(1, -1)


def quantize(d: np.ndarray, base: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """The difference as integers of a step per row: 1/r of the row's rms weight, or of the
    difference's rms where that is larger."""
    if not np.isfinite(d).all():
        raise ValueError("the weights hold NaN or infinity")
    if d.size == 0:
        return np.zeros(d.shape, np.int8), np.ones(max(1, d.shape[0] if d.ndim >= 2 else 1), np.float32)
    rms = lambda x: np.sqrt(np.mean(rows(x).astype(np.float64) ** 2, axis=1))  # noqa: E731
    scale = np.maximum(rms(base), rms(d))
    step = np.where(scale > 0, scale / r, 1.0).astype(np.float32)
    ints = np.rint(rows(d) / step[:, None].astype(np.float64)).astype(np.int64)
    m = int(np.abs(ints).max())
    kind = np.int8 if m < 2**7 else np.int16 if m < 2**15 else np.int32 if m < 2**31 else np.int64
    return ints.astype(kind).reshape(d.shape), step


def dequantize(ints: np.ndarray, step: np.ndarray) -> np.ndarray:
    if ints.size == 0:
        return np.zeros(ints.shape, np.float32)
    return (rows(ints).astype(np.float64) * step[:, None]).astype(np.float32).reshape(ints.shape)


def line_totals(ck: dict, offset: dict | None) -> dict:
    """The campaign's CPU-minutes and crops at this checkpoint: the totals before its line (the
    record's `campaign_offset`, else `offset`) plus the line's own counters."""
    rec = (ck.get("record") or {}).get("campaign_offset")
    if rec and offset and (abs(rec["cpu_minutes"] - offset["cpu_minutes"]) > 0.05 or rec["crops"] != offset["crops"]):
        raise SystemExit(f"--offset {offset} contradicts the checkpoint's record {rec}: leave --offset out")
    before = rec or offset
    if before is None:
        raise SystemExit("the campaign's totals before this line are unknown: pass --offset CPU_MINUTES,CROPS "
                         "(those of the package the line started from: its row in training/campaign.json)")
    return campaign_totals(before, line_minutes(ck))


def save(ckpt: Path, base: Path, out: Path, r: int, offset: dict | None) -> dict:
    return write_state(load_checkpoint(ckpt), str(ckpt), base, base_weights(base), out, r, offset)


def write_state(ck: dict, source_name: str, base: Path, ref: dict, out: Path, r: int, offset: dict | None) -> dict:
    """`save` of a loaded checkpoint against the package `base`, whose rebuilt weights are `ref`."""
    source = "EMA" if ck.get("ema") else (ck.get("record") or {}).get("weights", "last")
    weights = ck.get("ema") or ck["model"]
    totals = line_totals(ck, offset)
    arrays, kinds = {}, {}
    for k, v in weights.items():
        a = v.detach().cpu().numpy()
        if not v.is_floating_point():
            arrays[f"raw/{k}"], kinds[k] = a, "raw"
        elif k in ref and tuple(ref[k].shape) == a.shape:
            b = ref[k].numpy()
            arrays[f"q/{k}"], arrays[f"s/{k}"] = quantize(a.astype(np.float32) - b, b, r * FINER if exact(k, a.size) else r)
            kinds[k] = "delta"
        else:
            arrays[f"h/{k}"], kinds[k] = a.astype(np.float16 if stored_fp16(k, a.size) else np.float32), "whole"
    record = {k: v for k, v in (ck.get("record") or {}).items() if k not in ("campaign_offset", "crops_seen", "weights")}
    base_id, digest = package_identity(base)
    meta = dict(format=FORMAT, date=dt.date.today().isoformat(), base=base_id, base_digest=digest,
                steps_per_rms=r, source=source_name, weights=source, step=ck.get("step"), cpu_elapsed=ck.get("cpu_elapsed"),
                crops_seen=ck.get("crops_seen"), config=ck["config"], record=record, campaign_totals=totals, kinds=kinds)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    tmp.replace(out)
    return dict(out=str(out), bytes=out.stat().st_size, base=meta["base"], step=meta["step"], weights=source, campaign_totals=totals,
                tensors={kind: sum(1 for x in kinds.values() if x == kind) for kind in ("delta", "whole", "raw")})


def exact(name: str, numel: int) -> bool:
    """The tensors that an export stores as they are (fp32): the factorized prior, the λ gains and
    small ones (biases, GDN's β and γ rows). The integer scale nets, also kept in fp32 here, are
    stored as int8 per output channel, far coarser than the plain step."""
    return name.startswith("entropy_z.") or name == "log_gain" or numel < 256


def read_state(path: Path) -> tuple[dict, dict]:
    with np.load(io.BytesIO(lzma.decompress(path.read_bytes()))) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a campaign state ({meta.get('format')!r})")
    return meta, arrays


def restore(path: Path, base: Path, ref: dict | None = None) -> dict:
    """The state's weights as a portable checkpoint (train.py --init, campaign.py eval); `ref`:
    the package's rebuilt weights where the caller has them."""
    meta, arrays = read_state(path)
    if package_identity(base)[1] != meta["base_digest"]:
        raise StaleState(f"{path} was saved against {meta['base']} as it was then, and {base} is another package")
    ref = ref if ref is not None else base_weights(base)
    weights = {}
    for k, kind in meta["kinds"].items():
        if kind == "delta":
            weights[k] = ref[k] + torch.from_numpy(dequantize(arrays[f"q/{k}"], arrays[f"s/{k}"]))
        elif kind == "whole":
            weights[k] = torch.from_numpy(arrays[f"h/{k}"].astype(np.float32))
        else:
            weights[k] = torch.from_numpy(arrays[f"raw/{k}"].copy())
    record = {**meta["record"], "campaign_offset": meta["campaign_totals"],
              "restored_from": dict(state=str(path), date=meta["date"], step=meta["step"])}
    # the start of a new line: its counters from 0, the campaign's totals so far in the record
    ck = dict(model=weights, config=meta["config"], step=0, elapsed=0.0, cpu_elapsed=0.0, crops_seen=0, record=record)
    return portable_checkpoint(ck, weights=meta["weights"])


def ahead(path: Path, ckpt: Path) -> bool:
    """Whether the state has trained further than the checkpoint or other state (a name ending in
    .npz.xz), by crops seen: comparable across machines and with a GPU's lines, where minutes are
    not. A checkpoint whose line started from a package (no `campaign_offset`: its totals are
    unknown here) never counts as behind."""
    meta, _ = read_state(path)
    if ckpt.name.endswith(".npz.xz"):
        return meta["campaign_totals"]["crops"] > read_state(ckpt)[0]["campaign_totals"]["crops"]
    ck = load_checkpoint(ckpt)
    off = (ck.get("record") or {}).get("campaign_offset")
    if off is None:
        return False
    return meta["campaign_totals"]["crops"] > line_totals(ck, None)["crops"]


def check(ckpt: Path, base: Path, rs: list[int], n: int, threads: int) -> dict:
    """What the quantization costs: the checkpoint's EMA against its restored copy at each R, on
    the first n cid22-val photos at the three validation λ (exact code lengths), as BD-rate."""
    import tempfile

    import campaign
    from hicodec_train.metrics import bd_rate

    torch.set_num_threads(threads)
    files = sorted((campaign.DATA / "cid22-val").glob("*.png"))[:n]

    def points(path: Path) -> list:
        m, _ = campaign.load_model(path)
        with torch.no_grad():
            return [(r["bpp"], r["psnr"]) for r in campaign.val_rows(m, files, campaign.coding_tables(m))]

    ref = points(ckpt)
    ck = load_checkpoint(ckpt)
    off = None if (ck.get("record") or {}).get("campaign_offset") else dict(cpu_minutes=0.0, crops=0)
    weights = base_weights(base)
    out = dict(checkpoint=str(ckpt), images=len(files), ema=ref, r={})
    with tempfile.TemporaryDirectory() as d:
        for r in rs:
            info = write_state(ck, str(ckpt), base, weights, Path(d) / "s.npz.xz", r, off)
            torch.save(restore(Path(d) / "s.npz.xz", base, weights), Path(d) / "r.pt")
            got = points(Path(d) / "r.pt")
            out["r"][r] = dict(bytes=info["bytes"], bd_rate=round(bd_rate(*zip(*ref), *zip(*got)), 3),
                               dpsnr=[round(g[1] - e[1], 4) for g, e in zip(got, ref)])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("ckpt", type=Path)
    s.add_argument("--base", type=Path, required=True, help="the shipped package the recipe restores against (models/$(cat models/DEFAULT))")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--r", type=int, default=1024, help="quantization steps per rms weight of each output channel")
    s.add_argument("--offset", help="CPU_MINUTES,CROPS of the campaign before this line, for a line started from a package")
    r = sub.add_parser("restore")
    r.add_argument("state", type=Path)
    r.add_argument("--base", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    a = sub.add_parser("ahead", help="exit 0 if the state has trained further than the checkpoint (or state), else 1")
    a.add_argument("state", type=Path)
    a.add_argument("ckpt", type=Path)
    c = sub.add_parser("check", help="BD-rate of the restored weights against the checkpoint's EMA at each R (cid22-val)")
    c.add_argument("ckpt", type=Path)
    c.add_argument("--base", type=Path, required=True)
    c.add_argument("--r", default="256,1024", help="the R values, comma-separated")
    c.add_argument("--images", type=int, default=8)
    c.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.cmd == "check":
        print(json.dumps(check(args.ckpt, args.base, [int(v) for v in args.r.split(",")], args.images, args.threads), indent=1))
        return 0
    if args.cmd == "save":
        off = None
        if args.offset:
            cpu, crops = args.offset.split(",")
            off = dict(cpu_minutes=float(cpu), crops=int(crops))
        print(json.dumps(save(args.ckpt, args.base, args.out, args.r, off), indent=1))
    elif args.cmd == "ahead":
        return 0 if ahead(args.state, args.ckpt) else 1
    else:
        try:
            ck = restore(args.state, args.base)
        except StaleState as e:
            print(f"campaign_state: {e}", file=sys.stderr)
            return STALE
        tmp = args.out.with_name(args.out.name + ".tmp")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(ck, tmp)
        tmp.replace(args.out)
        print(json.dumps(dict(out=str(args.out), weights=ck["record"]["weights"], campaign_offset=ck["record"]["campaign_offset"]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
