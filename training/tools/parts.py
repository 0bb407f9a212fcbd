#!/usr/bin/env python3
"""Split a file into parts that fit the GPU machine's output folder (≤ 16 MiB a file, 8 files)
and join them back, checking sha256.

  python3 training/tools/parts.py split runs/gpu/release.pt "$OUT" [--max-mib 15]
  /usr/bin/python3 training/tools/parts.py join /work/.device/.../release.pt.parts.json runs/gpu/release.pt
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def split(src: Path, out_dir: Path, max_mib: float = 15.0) -> Path:
    data = src.read_bytes()
    size = int(max_mib * 2**20)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, max(1, len(data)), size):
        chunk = data[i : i + size]
        name = f"{src.name}.part{len(parts):02d}"
        (out_dir / name).write_bytes(chunk)
        parts.append(dict(file=name, bytes=len(chunk), sha256=sha256(chunk)))
    index = out_dir / f"{src.name}.parts.json"
    index.write_text(json.dumps(dict(name=src.name, bytes=len(data), sha256=sha256(data), parts=parts), indent=1) + "\n")
    return index


def join(index: Path, dest: Path) -> Path:
    meta = json.loads(index.read_text())
    chunks = []
    for p in meta["parts"]:
        b = (index.parent / p["file"]).read_bytes()
        if len(b) != p["bytes"] or sha256(b) != p["sha256"]:
            raise ValueError(f"{p['file']}: damaged (size or sha256)")
        chunks.append(b)
    data = b"".join(chunks)
    if len(data) != meta["bytes"] or sha256(data) != meta["sha256"]:
        raise ValueError(f"{meta['name']}: reassembled file does not match its sha256")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("file", type=Path)
    s.add_argument("out_dir", type=Path)
    s.add_argument("--max-mib", type=float, default=15.0)
    j = sub.add_parser("join")
    j.add_argument("index", type=Path)
    j.add_argument("dest", type=Path)
    a = p.parse_args(argv)
    print(split(a.file, a.out_dir, a.max_mib) if a.cmd == "split" else join(a.index, a.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
