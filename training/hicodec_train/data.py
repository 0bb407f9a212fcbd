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


class DeviceCropSampler:
    """Random crops with flips and mild rescaling done on the training device (the GPU path:
    images live on the GPU as uint8, so loading never starves it). Same interface as CropSampler.

    Each crop takes a square window of crop/s pixels (s uniform in [scale_min, scale_max]) at a
    random position, resamples it to crop×crop with bilinear `grid_sample`, and flips it at random.
    s < 1 shrinks a larger window (denser detail); s > 1 enlarges a smaller one, which gives the
    smoother per-pixel statistics of full-resolution camera photos (CID22 is downscaled to 512²).
    scale_tail = (p, top) draws a share p of the crops from [scale_max, top] instead: a few strongly
    enlarged windows (smooth skies, walls, out-of-focus backgrounds at camera resolution) without
    moving the bulk of the distribution; (0, ·) draws no extra random numbers, so a sampler
    without a tail makes the same crops as before it existed.
    All randomness comes from one generator on the device, whose state a checkpoint carries."""

    def __init__(self, images: list[np.ndarray], crop: int, device, seed: int = 0, scale_min: float = 0.75,
                 gray_prob: float = 0.0, scale_max: float = 1.0, scale_tail: tuple[float, float] = (0.0, 0.0)):
        if not images:
            raise ValueError("no training images found")
        if not 0 < scale_min <= scale_max:
            raise ValueError(f"scale range [{scale_min}, {scale_max}] is empty")
        if not 0 <= scale_tail[0] <= 1 or (scale_tail[0] > 0 and scale_tail[1] < scale_max):
            raise ValueError(f"scale tail {scale_tail}: share in [0, 1] and top ≥ scale_max ({scale_max})")
        self.scale_tail = scale_tail
        self.crop, self.scale_min, self.scale_max, self.gray_prob = crop, scale_min, scale_max, gray_prob
        self.device = torch.device(device)
        small = [a.shape for a in images if min(a.shape[:2]) < crop]
        if small:
            raise ValueError(f"images smaller than the {crop}² crop: {small[0]}")
        shapes = {a.shape for a in images}
        # one stacked tensor when all images have one size (CID22: 512²), else a list
        if len(shapes) == 1:
            self.stack = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(self.device)
            self.images = None
        else:
            self.stack = None
            self.images = [torch.from_numpy(a).permute(2, 0, 1).contiguous().to(self.device) for a in images]
        self.n = len(images)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self) -> int:
        return self.n

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, generator=self.gen, device=self.device)

    def batch(self, n: int) -> torch.Tensor:
        c = self.crop
        idx = (self._rand(n) * self.n).long().clamp_max(self.n - 1)
        s = self.scale_min + (self.scale_max - self.scale_min) * self._rand(n)
        if self.scale_tail[0] > 0:
            p, top = self.scale_tail
            tail = self._rand(n) < p
            s = torch.where(tail, self.scale_max + (top - self.scale_max) * self._rand(n), s)
        pos = self._rand(n, 2)
        flips = self._rand(n, 2) < 0.5
        gray = self._rand(n) < self.gray_prob
        if self.stack is not None:
            src = self.stack.index_select(0, idx).float() / 255.0
            out = self._resample(src, s, pos, flips)
        else:
            out = torch.cat([self._resample(self.images[int(i)][None].float() / 255.0, s[j : j + 1], pos[j : j + 1], flips[j : j + 1])
                             for j, i in enumerate(idx.tolist())])
        if self.gray_prob:
            g = (out * torch.tensor([0.299, 0.587, 0.114], device=self.device)[:, None, None]).sum(1, keepdim=True)
            out = torch.where(gray[:, None, None, None], g.expand_as(out), out)
        return out

    def _resample(self, src: torch.Tensor, s: torch.Tensor, pos: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        b, _, h, w = src.shape
        c = self.crop
        win = c / s  # source window in pixels
        # window centre in pixels, uniform over the positions that keep the window inside
        cx = win / 2 + pos[:, 0] * (w - win)
        cy = win / 2 + pos[:, 1] * (h - win)
        ax = (win / w) * torch.where(flips[:, 0], -1.0, 1.0)
        ay = (win / h) * torch.where(flips[:, 1], -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=self.device)
        theta[:, 0, 0], theta[:, 0, 2] = ax, 2 * cx / w - 1
        theta[:, 1, 1], theta[:, 1, 2] = ay, 2 * cy / h - 1
        grid = F.affine_grid(theta, [b, 3, c, c], align_corners=False)
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)

    def state(self) -> torch.Tensor:
        return self.gen.get_state()

    def set_state(self, st: torch.Tensor) -> None:
        self.gen.set_state(st)


def center_crops(images: list[np.ndarray], size: int) -> torch.Tensor:
    """Fixed validation crops: the centre size×size of every image, (N, 3, size, size) in [0, 1]."""
    out = []
    for a in images:
        h, w = a.shape[:2]
        s = min(size, h, w) // 64 * 64
        y0, x0 = (h - s) // 2, (w - s) // 2
        out.append(torch.from_numpy(np.ascontiguousarray(a[y0 : y0 + s, x0 : x0 + s])).permute(2, 0, 1).float() / 255.0)
    if len({t.shape for t in out}) != 1:
        raise ValueError("validation images give crops of different sizes")
    return torch.stack(out)
