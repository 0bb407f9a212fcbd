"""Applies the export's graph passes to an existing model package, in place: each ONNX file is
rewritten where a pass applies (same weights, same initializer names), and the manifest's file
hashes and sizes, package_bytes and export.graph_passes are updated. For packages exported before
a pass existed (the passes change how ONNX Runtime runs a graph, never what it computes beyond
float rounding).

  /usr/bin/python3 training/repack.py models/hic-base-v6
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train.package import integer_depth_to_space, sha256, subpixel_as_conv_transpose  # noqa: E402

PASSES = {"subpixel_as_conv_transpose": subpixel_as_conv_transpose, "integer_depth_to_space": integer_depth_to_space}


def repack(root: Path) -> dict[str, int]:
    manifest_path = root / "manifest.json"
    m = json.loads(manifest_path.read_text())
    done: dict[str, int] = {}
    for name in sorted(m["files"]):
        if not name.endswith(".onnx"):
            continue
        for pname, fn in PASSES.items():
            n = fn(root / name)
            if n:
                done[f"{name}: {pname}"] = n
        m["files"][name] = {"sha256": sha256(root / name), "bytes": (root / name).stat().st_size}
    m["package_bytes"] = sum(v["bytes"] for v in m["files"].values())
    m.setdefault("export", {})["graph_passes"] = sorted(PASSES)
    manifest_path.write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n")
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("package", type=Path)
    a = ap.parse_args(argv)
    done = repack(a.package)
    for k, n in done.items():
        print(f"{k}: {n} rewritten")
    if not done:
        print("nothing to rewrite")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
