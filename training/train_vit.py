#!/usr/bin/env python3
"""Recognition without decoding: train the latent-token ViT (and its two baselines) on tf_flowers.

  node training/tools/vit_prep.mjs runs/vit          # the data, with the product's runtime
  /usr/bin/python3 training/train_vit.py train --data runs/vit --input latent   --epochs 5
  /usr/bin/python3 training/train_vit.py train --data runs/vit --input decoded  --epochs 5
  /usr/bin/python3 training/train_vit.py train --data runs/vit --input original --epochs 5
  /usr/bin/python3 training/train_vit.py export --data runs/vit --id hic-vit-flowers-v4
  (training/recipes/vit-flowers.sh runs all of it; it must be rerun when the default codec changes)

The data (training/tools/vit_prep.mjs): every photo of ../shared/data/flowers (256×256) through the
default codec with onnxruntime-node, at qualities 0, 50, 100 (train) and 0, 25, 50, 75, 100 (val):
the decoded latent ŷ exactly as `hic classify` computes it from a .hic (entropy decoding and the
hyper networks, no synthesis), the decoded image, and the original; raw arrays in the run folder.
train: the same ViT and recipe for each input (latent tokens; 16×16 RGB patches of the decoded
image; of the original): AdamW, cosine schedule, a random quality per sample every epoch.
Accuracy on the 736 validation photos at each quality goes into OUT/results-<input>.json.
export: the latent ViT as ONNX (+ parity check against PyTorch) in a package that names the codec
model whose latent it reads.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train.vit import TokenViT, VitConfig, count, cosine_lr, mix_tokens, rgb_patches, set_standardization, shift_tokens  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUALITIES = (0, 25, 50, 75, 100)
# training samples at these qualities only (CPU time: g_s on every sample); validation at all
TRAIN_QUALITIES = (0, 50, 100)


def tokens_of(kind: str, data: dict, qi: np.ndarray, idx: np.ndarray) -> torch.Tensor:
    if kind == "latent":
        return torch.from_numpy(np.stack([data["latent"][q, i] for q, i in zip(qi, idx)]).astype(np.float32))
    src = [data["decoded"][q, i] for q, i in zip(qi, idx)] if kind == "decoded" else [data["original"][i] for i in idx]
    return rgb_patches(torch.from_numpy(np.stack(src)).float() / 255)


def load(data_dir: Path, split: str) -> dict:
    """The arrays training/tools/vit_prep.mjs wrote (raw, shapes in prep.json), memory-mapped."""
    sp = json.loads((data_dir / "prep.json").read_text())["splits"][split]
    out = {k: np.memmap(data_dir / f"{split}-{k}.{ext}", dtype=dt, mode="r", shape=tuple(sp[k]))
           for k, ext, dt in (("latent", "f32", np.float32), ("decoded", "u8", np.uint8), ("original", "u8", np.uint8))
           if sp.get(k)}  # decoded: none from `vit_prep.mjs --latent-only`
    out["labels"] = np.fromfile(data_dir / f"{split}-labels.i64", dtype="<i8")
    return out


@torch.no_grad()
def evaluate(model: TokenViT, kind: str, val: dict, batch: int = 64) -> dict:
    model.eval()
    n = val["labels"].shape[0]
    acc = {}
    for qi, q in enumerate(QUALITIES):
        if kind == "original" and qi > 0:
            acc[str(q)] = acc[str(QUALITIES[0])]
            continue
        right = 0
        for b0 in range(0, n, batch):
            idx = np.arange(b0, min(n, b0 + batch))
            logits, _ = model(tokens_of(kind, val, np.full(len(idx), qi), idx))
            right += int((logits.argmax(1).numpy() == val["labels"][idx]).sum())
        acc[str(q)] = round(100 * right / n, 2)
    model.train()
    return acc


def train(args) -> int:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    tr, val = load(args.data, "train"), load(args.data, "val")
    cfg = VitConfig(in_channels=tr["latent"].shape[2] if args.input == "latent" else 768, dim=args.dim, depth=args.depth, heads=args.heads, merge=args.merge, dropout=args.dropout,
                    standardize=args.standardize)
    model = TokenViT(cfg)
    if args.standardize:  # statistics of 512 training samples, all qualities
        pick = np.sort(rng.choice(tr["labels"].shape[0], min(512, tr["labels"].shape[0]), replace=False))
        set_standardization(model, tokens_of(args.input, tr, rng.integers(0, tr["latent"].shape[0], len(pick)), pick))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    n = tr["labels"].shape[0]
    steps_per_epoch = n // args.batch
    total = steps_per_epoch * args.epochs
    log = []
    t0 = time.time()
    step = 0
    for epoch in range(args.epochs):
        perm = rng.permutation(n)
        for s in range(steps_per_epoch):
            idx = np.sort(perm[s * args.batch : (s + 1) * args.batch])
            qi = rng.integers(0, tr["latent"].shape[0], len(idx))  # one classifier for every rate
            x = shift_tokens(tokens_of(args.input, tr, qi, idx), rng, args.shift)
            x, other, lam = mix_tokens(x, rng, args.mix)
            y = torch.from_numpy(tr["labels"][idx])
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, total, args.lr, args.warmup)
            logits, _ = model(x)
            loss = lam * F.cross_entropy(logits, y, label_smoothing=0.1)
            if lam < 1:
                loss = loss + (1 - lam) * F.cross_entropy(logits, y[torch.from_numpy(other)], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
        last = epoch + 1 == args.epochs
        acc = evaluate(model, args.input, val) if last or (epoch + 1) % args.eval_every == 0 else None
        log.append(dict(epoch=epoch + 1, loss=round(float(loss), 4), val=acc, minutes=round((time.time() - t0) / 60, 1)))
        print(f"{args.input} epoch {epoch + 1}: loss {float(loss):.3f} val {acc} ({(time.time() - t0) / 60:.1f} min)", flush=True)
    torch.save(dict(model=model.state_dict(), config=cfg.to_dict(), input=args.input, log=log), args.data / f"vit-{args.input}.pt")
    res = dict(input=args.input, parameters=count(model), config=cfg.to_dict(), epochs=args.epochs, batch=args.batch, lr=args.lr, shift=args.shift, mix=args.mix,
               samples=int(n), flipped=int(json.loads((args.data / "prep.json").read_text())["splits"]["train"].get("flipped", 0)),
               accuracy=log[-1]["val"], log=log, minutes=round((time.time() - t0) / 60, 1), torch=torch.__version__)
    (args.data / f"results-{args.input}.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


def export(args) -> int:
    import hashlib

    import onnx  # noqa: F401

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from hicodec_train import ort

    ck = torch.load(args.data / "vit-latent.pt", map_location="cpu")
    model = TokenViT(VitConfig(**ck["config"])).eval()
    model.load_state_dict(ck["model"])
    meta = json.loads((args.data / "prep.json").read_text())
    out = args.out or REPO / "models" / args.id
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ch = ck["config"]["in_channels"]  # the codec's latent channels
    x = torch.randn(1, ch, 16, 16)
    kw = dict(opset_version=17, input_names=["y_hat"], output_names=["logits", "cls_attention"],
              dynamic_axes={"y_hat": {2: "h", 3: "w"}, "cls_attention": {1: "n"}})
    if int(torch.__version__.split(".")[0]) >= 2:
        kw["dynamo"] = False
    torch.onnx.export(model, (x,), str(tmp / "classifier.onnx"), **kw)
    parity = {}
    if ort.available():
        for h, w in ((16, 16), (12, 20), (4, 4)):
            xi = torch.randn(1, ch, h, w)
            with torch.no_grad():
                ref_l, ref_a = model(xi)
            got = ort.run(tmp / "classifier.onnx", {"y_hat": xi.numpy()})
            parity[f"{w}x{h}"] = max(float(np.abs(got["logits"] - ref_l.numpy()).max()), float(np.abs(got["cls_attention"] - ref_a.numpy()).max()))
    # the two RGB baselines as ONNX too, beside the data (not shipped): bench/vit.ts times them
    baselines = {}
    for kind in ("decoded", "original"):
        pt = args.data / f"vit-{kind}.pt"
        if not pt.exists():
            continue
        bk = torch.load(pt, map_location="cpu")
        bm = TokenViT(VitConfig(**bk["config"])).eval()
        bm.load_state_dict(bk["model"])
        bkw = dict(kw, input_names=["patches"], dynamic_axes={"patches": {2: "h", 3: "w"}, "cls_attention": {1: "n"}})
        torch.onnx.export(bm, (torch.randn(1, 768, 16, 16),), str(args.data / f"vit-{kind}.onnx"), **bkw)
        baselines[kind] = str(args.data / f"vit-{kind}.onnx")
    results = {k: json.loads((args.data / f"results-{k}.json").read_text()) for k in ("latent", "decoded", "original") if (args.data / f"results-{k}.json").exists()}
    manifest = {
        "id": args.id, "kind": "classifier", "format_version": 1, "codec_model": meta["codec"], "classes": meta["classes"],
        "known": f"tf_flowers: {len(meta['classes'])} kinds of flower",
        "input": {"name": "y_hat", "tensor": f"float32 [1,{ch},h,w]: the decoded latent ŷ (ŷ_g / gain) of a .hic made by codec_model",
                  "grid": 16, "merge": ck["config"].get("merge", 1),
                  "other_sizes": "any grid: the position embedding is resized bilinearly (trained on 16×16 = 256×256 images); "
                                 "with merge m, each m×m block of tokens is one ViT token and cls_attention is over the ⌊h/m⌋×⌊w/m⌋ blocks"},
        "outputs": {"logits": "float32 [1, classes]", "cls_attention": "float32 [1, h·w]: the class token's attention over the tokens, last block, mean of heads"},
        "training": {"data": "tf_flowers (../shared/data/flowers; CC BY 2.0 per photo)", "command": "training/recipes/vit-flowers.sh",
                     "config": ck["config"], "log_tail": ck["log"][-3:], "qualities": meta["qualities"]},
        "evaluation": {k: {"top1_percent_by_quality": v["accuracy"], "parameters": v["parameters"]} for k, v in results.items()},
        "export": {"parity_max_abs": parity, "torch": torch.__version__, "opset": 17},
    }
    f = tmp / "classifier.onnx"
    manifest["files"] = {"classifier.onnx": {"sha256": hashlib.sha256(f.read_bytes()).hexdigest(), "bytes": f.stat().st_size}}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"wrote {out}; parity {parity}; baselines {baselines}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("train")
    b.add_argument("--data", type=Path, default=REPO / "runs" / "vit")
    b.add_argument("--input", choices=("latent", "decoded", "original"), required=True)
    b.add_argument("--epochs", type=int, default=5)
    b.add_argument("--batch", type=int, default=64)
    b.add_argument("--lr", type=float, default=1e-3)
    b.add_argument("--warmup", type=int, default=100)
    b.add_argument("--dim", type=int, default=128)
    b.add_argument("--depth", type=int, default=2)
    b.add_argument("--heads", type=int, default=2)
    b.add_argument("--merge", type=int, default=1, help="m×m input tokens per ViT token (stride-m conv embed; 4× less attention at 2)")
    b.add_argument("--shift", type=int, default=0, help="augmentation: move each training grid by up to ±this many tokens")
    b.add_argument("--mix", type=float, default=0.0, help="augmentation: CutMix or MixUp of the token grids on this share of the batches")
    b.add_argument("--dropout", type=float, default=0.1)
    b.add_argument("--standardize", action="store_true", help="shift and scale each input channel by its training mean and std")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--eval-every", type=int, default=1, help="validate every this many epochs (and after the last)")
    c = sub.add_parser("export")
    c.add_argument("--data", type=Path, default=REPO / "runs" / "vit")
    c.add_argument("--id", required=True)
    c.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    from hicodec_train.alloc import tune_allocator

    tune_allocator()
    return train(args) if args.cmd == "train" else export(args)


if __name__ == "__main__":
    sys.exit(main())
