"""Training data: natural photos from ../shared/data/train-src (never Kodak), random crops, flips.

All images are decoded once into memory (CID22: 206 × 512² × 3 bytes ≈ 160 MB) and crops are
drawn with an explicit torch.Generator, so a checkpoint can carry the sampler state and a
resumed run continues the same random stream.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "train-src"
EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def default_data_root() -> Path:
    return Path(os.environ.get("HICODEC_TRAIN_DATA", DEFAULT_DATA)).resolve()


def list_images(roots: list[Path]) -> list[Path]:
    files = []
    for root in roots:
        if root.is_file():
            files.append(root)
            continue
        files += sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTS)
    bad = [p for p in files if "kodak" in str(p).lower() or p.name.startswith("kodim")]
    if bad:
        raise ValueError(f"refusing to train on Kodak (the evaluation set): {bad[0]}")
    return files


class CropSampler:
    """Random crop × flips sampler over images held in memory as uint8 HWC arrays."""

    def __init__(self, files: list[Path], crop: int, seed: int = 0, gray_prob: float = 0.0):
        if not files:
            raise ValueError("no training images found")
        self.crop = crop
        # a share of crops made gray (R = G = B), so that gray images cost fewer bits than colour
        self.gray_prob = gray_prob
        self.images = []
        for p in files:
            im = Image.open(p).convert("RGB")
            if min(im.size) < crop:
                s = crop / min(im.size)
                im = im.resize((max(crop, round(im.width * s)), max(crop, round(im.height * s))), Image.BICUBIC)
            self.images.append(np.asarray(im, dtype=np.uint8))
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, n: int) -> torch.Tensor:
        c = self.crop
        out = torch.empty(n, 3, c, c, dtype=torch.float32)
        for b in range(n):
            i = int(torch.randint(len(self.images), (1,), generator=self.gen))
            im = self.images[i]
            h, w = im.shape[:2]
            y0 = int(torch.randint(h - c + 1, (1,), generator=self.gen))
            x0 = int(torch.randint(w - c + 1, (1,), generator=self.gen))
            t = torch.from_numpy(np.ascontiguousarray(im[y0 : y0 + c, x0 : x0 + c])).permute(2, 0, 1).float() / 255.0
            flips = torch.randint(2, (2,), generator=self.gen)
            if flips[0]:
                t = t.flip(2)
            if flips[1]:
                t = t.flip(1)
            if self.gray_prob and float(torch.rand((), generator=self.gen)) < self.gray_prob:
                t = (t * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True).expand(3, -1, -1)
            out[b] = t
        return out

    def state(self) -> torch.Tensor:
        return self.gen.get_state()

    def set_state(self, s: torch.Tensor) -> None:
        self.gen.set_state(s)


def load_image(path: Path) -> torch.Tensor:
    """(1, 3, H, W) float in [0, 1]."""
    im = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(im.copy()).permute(2, 0, 1)[None].float() / 255.0
