"""Training data packed to travel: one file of JPEG 4:4:4 images (the GPU machine gets only the
working tree, ≤ 64 MiB, and CID22's 206 PNGs are ~74 MB; lossless WebP ~58 MB, q97 ~32 MB).

At q97 with no chroma subsampling JPEG costs 40.6 dB PSNR at worst, 45.4 on average, on these
photos, far above the 26–40 dB the codec reaches, so the added noise is well below what the model
learns to reproduce. `pack_data.py --fit-mib` lowers the quality when the repository leaves less
room (q95: 25.6 MB, 37.0 dB at worst and 42.9 on average). The validation photos are packed the same
way: the device validates on them for its log, while the campaign's evaluation runs here on the
PNGs. Kodak never goes in (the loader
refuses it).

File layout (little-endian): b"HPK1", uint32 count, then per image: uint32 name length, name
(UTF-8), uint32 byte length, JPEG bytes; then b"END1". `load_pack` returns uint8 HWC arrays.
"""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

MAGIC, END = b"HPK1", b"END1"
QUALITY = 97


def write_pack(files: list[Path], out: Path, quality: int = QUALITY) -> dict:
    """Packs `files` into `out` (written atomically). Returns size and a PSNR check of the loss."""
    parts, psnrs = [MAGIC, struct.pack("<I", len(files))], []
    for f in files:
        im = Image.open(f).convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
        data = buf.getvalue()
        a = np.asarray(im, np.float64)
        b = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float64)
        psnrs.append(10 * np.log10(255.0**2 / max(1e-10, float(np.mean((a - b) ** 2)))))
        name = f.name.encode()
        parts += [struct.pack("<I", len(name)), name, struct.pack("<I", len(data)), data]
    parts.append(END)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(b"".join(parts))
    tmp.replace(out)
    return dict(file=str(out), images=len(files), bytes=out.stat().st_size, quality=quality,
                psnr_min=round(min(psnrs), 2) if psnrs else None, psnr_mean=round(float(np.mean(psnrs)), 2) if psnrs else None)


def read_pack(path: Path) -> list[tuple[str, bytes]]:
    b = Path(path).read_bytes()
    if b[:4] != MAGIC or b[-4:] != END:
        raise ValueError(f"{path}: not a hicodec training pack")
    (n,) = struct.unpack_from("<I", b, 4)
    pos, out = 8, []
    for _ in range(n):
        (ln,) = struct.unpack_from("<I", b, pos)
        name = b[pos + 4 : pos + 4 + ln].decode()
        pos += 4 + ln
        (dl,) = struct.unpack_from("<I", b, pos)
        out.append((name, b[pos + 4 : pos + 4 + dl]))
        pos += 4 + dl
    if pos != len(b) - 4:
        raise ValueError(f"{path}: damaged pack")
    return out


def load_pack(path: Path) -> list[np.ndarray]:
    """The images of a pack as uint8 HWC arrays."""
    items = read_pack(path)
    bad = [n for n, _ in items if "kodak" in n.lower() or n.startswith("kodim")]
    if bad:
        raise ValueError(f"refusing to train on Kodak (the evaluation set): {bad[0]}")
    return [np.asarray(Image.open(io.BytesIO(d)).convert("RGB"), dtype=np.uint8) for _, d in items]
