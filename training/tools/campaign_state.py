#!/usr/bin/env python3
"""The training campaign's state, small enough to commit: what a new machine resumes from.

`runs/` is not committed, and a session that gets a fresh machine finds it empty: twice the
campaign lost what it had trained since the last ship (52 CPU-minutes on 2026-12-02, 516 on
2026-12-03) and restarted from the shipped package. This tool keeps the campaign's weights in
the repository instead, as their difference from the shipped package they started from:

  save:    CHECKPOINT (its EMA weights, else the last) − the package's weights (as
           `load_package_model` rebuilds them, bit for bit on every platform), quantized with one
           absolute step (default 2.5·10⁻⁵: a quarter of what one Adam step at lr 10⁻⁴ moves a
           weight; the error, ≤ half a step, is far below what one training step does, so the file
           grows with how far the weights have moved, not with their number), as integers in an
           lzma-compressed .npz. Tensors of another shape
           than the package's (a narrowed g_s) are stored whole, in fp16 bits. The configuration,
           the record and the campaign's totals (CPU-minutes and crops since the start of v5,
           carried in the record as `campaign_offset`) travel with it.
  restore: the package + the difference → a portable checkpoint (`train.py --init` reads it, as
           does `campaign.py eval`), refused if the package's weights are not the ones it was
           saved against (a new ship makes the state stale: the campaign then starts from the new
           package, as it should).

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
from hicodec_train.model import portable_checkpoint  # noqa: E402

FORMAT = "hicodec-campaign-state/1"
STALE = 3  # restore's exit status when the state belongs to other package weights


class StaleState(Exception):
    """The state was saved against other package weights than the ones given."""


def base_weights(base: Path) -> dict[str, torch.Tensor]:
    from hicodec_train.package import load_package_model

    model, _ = load_package_model(base)
    return {k: v.detach().float().contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].numpy().astype("<f4").tobytes())
    return h.hexdigest()


def rows(a: np.ndarray) -> np.ndarray:
    """A tensor as (output channels, the rest); scalars and vectors as one row."""
    return a.reshape(a.shape[0], -1) if a.ndim >= 2 else a.reshape(1, -1)


def quantize(d: np.ndarray, base: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """The difference in integers of a step per output channel: 1/r of the channel's rms weight
    (of the difference where that is larger, e.g. for tensors that start at zero)."""
    rms = lambda x: np.sqrt(np.mean(rows(x).astype(np.float64) ** 2, axis=1))  # noqa: E731
    scale = np.maximum(rms(base), rms(d))
    step = np.where(scale > 0, scale / r, 1.0).astype(np.float32)
    ints = np.rint(rows(d) / step[:, None].astype(np.float64)).astype(np.int64)
    m = int(np.abs(ints).max()) if ints.size else 0
    return ints.astype(np.int8 if m < 2**7 else np.int16 if m < 2**15 else np.int32).reshape(d.shape), step


def dequantize(ints: np.ndarray, step: np.ndarray) -> np.ndarray:
    return (rows(ints).astype(np.float64) * step[:, None]).astype(np.float32).reshape(ints.shape)


def save(ckpt: Path, base: Path, out: Path, r: int, offset: dict | None) -> dict:
    ck = torch.load(ckpt, map_location="cpu")
    weights = ck.get("ema") or ck["model"]
    ref = base_weights(base)
    record = dict(ck.get("record", {}))
    before = record.get("campaign_offset") or offset
    if before is None:
        raise SystemExit("the campaign's totals before this line are unknown: pass --offset CPU_MINUTES,CROPS")
    cpu_min = ck.get("cpu_elapsed", ck.get("elapsed", 0.0)) / 60
    totals = dict(cpu_minutes=round(before["cpu_minutes"] + cpu_min, 1), crops=int(before["crops"] + ck.get("crops_seen", 0)))
    arrays, kinds = {}, {}
    for k, v in weights.items():
        a = v.detach().cpu().numpy()
        if not v.is_floating_point():
            arrays[f"raw/{k}"], kinds[k] = a, "raw"
        elif k in ref and tuple(ref[k].shape) == a.shape:
            b = ref[k].numpy()
            arrays[f"q/{k}"], arrays[f"s/{k}"] = quantize(a.astype(np.float32) - b, b, r)
            kinds[k] = "delta"
        else:
            arrays[f"h/{k}"], kinds[k] = a.astype(np.float16), "whole"
    meta = dict(format=FORMAT, date=dt.date.today().isoformat(), base=manifest_id(base), base_digest=weights_digest(ref), steps_per_rms=r,
                source=str(ckpt), step=ck.get("step"), cpu_elapsed=ck.get("cpu_elapsed"), elapsed=ck.get("elapsed"),
                crops_seen=ck.get("crops_seen"), config=ck["config"], record=record, campaign_totals=totals, kinds=kinds)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    tmp.replace(out)
    return dict(out=str(out), bytes=out.stat().st_size, base=meta["base"], step=meta["step"], campaign_totals=totals,
                tensors={kind: sum(1 for x in kinds.values() if x == kind) for kind in ("delta", "whole", "raw")})


def manifest_id(base: Path) -> str:
    return json.loads((base / "manifest.json").read_text())["id"]


def read_state(path: Path) -> tuple[dict, dict]:
    with np.load(io.BytesIO(lzma.decompress(path.read_bytes()))) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    if meta.get("format") != FORMAT:
        raise SystemExit(f"{path}: not a campaign state ({meta.get('format')!r})")
    return meta, arrays


def restore(path: Path, base: Path) -> dict:
    """The state's weights as a portable checkpoint (train.py --init, campaign.py eval)."""
    meta, arrays = read_state(path)
    ref = base_weights(base)
    if weights_digest(ref) != meta["base_digest"]:
        raise StaleState(f"{path} was saved against {meta['base']}'s weights, and {base} holds others")
    weights = {}
    for k, kind in meta["kinds"].items():
        if kind == "delta":
            weights[k] = ref[k] + torch.from_numpy(dequantize(arrays[f"q/{k}"], arrays[f"s/{k}"]))
        elif kind == "whole":
            weights[k] = torch.from_numpy(arrays[f"h/{k}"].astype(np.float32))
        else:
            weights[k] = torch.from_numpy(arrays[f"raw/{k}"].copy())
    totals = meta["campaign_totals"]
    record = {**meta["record"], "campaign_offset": totals, "restored_from": dict(state=str(path), date=meta["date"], step=meta["step"])}
    # the start of a new line: its counters from 0, the campaign's totals so far in the record
    ck = dict(model=weights, config=meta["config"], step=0, elapsed=0.0, cpu_elapsed=0.0, crops_seen=0, record=record)
    return portable_checkpoint(ck)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("ckpt", type=Path)
    s.add_argument("--base", type=Path, required=True, help="the package the campaign's line started from")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--r", type=int, default=256, help="quantization steps per rms weight of each output channel")
    s.add_argument("--offset", help="CPU_MINUTES,CROPS of the campaign before this line, where the checkpoint's record lacks them")
    r = sub.add_parser("restore")
    r.add_argument("state", type=Path)
    r.add_argument("--base", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.cmd == "save":
        off = None
        if args.offset:
            cpu, crops = args.offset.split(",")
            off = dict(cpu_minutes=float(cpu), crops=int(crops))
        print(json.dumps(save(args.ckpt, args.base, args.out, args.r, off), indent=1))
    else:
        try:
            ck = restore(args.state, args.base)
        except StaleState as e:
            print(f"campaign_state: {e}", file=sys.stderr)
            return STALE
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        torch.save(ck, tmp)
        tmp.replace(args.out)
        print(json.dumps(dict(out=str(args.out), step=ck["step"], campaign_offset=ck["record"]["campaign_offset"]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
