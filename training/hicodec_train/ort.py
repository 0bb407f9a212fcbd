"""Run an ONNX model with onnxruntime-node (the product's runtime) from Python, through
training/tools/ort_run.mjs. Needs `npm ci` at the repository root."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "training" / "tools" / "ort_run.mjs"


def available() -> bool:
    return shutil.which("node") is not None and (REPO / "node_modules" / "onnxruntime-node").is_dir()


def run(model: Path, feeds: dict[str, np.ndarray], threads: int = 1) -> dict[str, np.ndarray]:
    if not available():
        raise RuntimeError("onnxruntime-node is not installed: run `npm ci` at the repository root")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        inputs = []
        for name, arr in feeds.items():
            arr = np.ascontiguousarray(arr)
            f = d / f"in_{name}.bin"
            arr.astype(arr.dtype.newbyteorder("<"), copy=False).tofile(f)
            inputs.append(dict(name=name, dtype=str(arr.dtype), shape=list(arr.shape), file=str(f)))
        job = dict(model=str(model), threads=threads, inputs=inputs, outDir=str(d))
        (d / "job.json").write_text(json.dumps(job))
        subprocess.run(["node", str(RUNNER), str(d / "job.json")], check=True, cwd=REPO)
        meta = json.loads((d / "outputs.json").read_text())
        return {
            name: np.fromfile(d / f"{name}.bin", dtype=np.dtype(m["dtype"]).newbyteorder("<")).reshape(m["shape"])
            for name, m in meta.items()
        }
