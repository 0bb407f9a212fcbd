"""eval.py runs end to end on the shipped package and reports sane numbers."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

import eval as evaluate

REPO = Path(__file__).resolve().parents[2]


def test_eval_on_generated_images(tmp_path):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:192, 0:256] / 192.0
    for i in range(2):
        img = np.stack([0.5 + 0.3 * np.sin((i + 2) * xx + yy), 0.5 + 0.2 * np.cos(4 * yy), 0.4 + 0.3 * xx * yy], -1)
        img += rng.normal(0, 0.01, img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(tmp_path / f"g{i}.png")
    pkg = REPO / "models" / (REPO / "models" / "DEFAULT").read_text().strip()
    out = tmp_path / "eval.json"
    assert evaluate.main([str(pkg), "--kodak", str(tmp_path), "--qualities", "20,80", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    rows = res["summary"]["qualities"]
    assert [r["quality"] for r in rows] == [20.0, 80.0]
    assert 0 < rows[0]["bpp"] < rows[1]["bpp"] and rows[0]["psnr"] < rows[1]["psnr"]
    assert rows[1]["psnr"] > 28 and 0.5 < rows[1]["ms_ssim"] <= 1.0
    assert len(res["rows"][0]["images"]) == 2


def test_several_qualities_in_one_pass_give_the_same_numbers(tmp_path):
    """The campaign's eval runs each image through g_a once for all its qualities (and the ceiling):
    the same numbers as one quality at a time and as the ceiling's own pass."""
    import campaign
    import torch
    from hicodec_train.package import load_package_model

    rng = np.random.default_rng(5)
    for i, (h, w) in enumerate(((96, 128), (80, 112))):  # one not a multiple of 16: the padding path
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"r{i}.png")
    files = sorted(tmp_path.glob("*.png"))
    torch.set_num_threads(1)
    model, _ = load_package_model(REPO / "models" / (REPO / "models" / "DEFAULT").read_text().strip())
    tables = campaign.coding_tables(model)
    ceil = []
    rows = campaign.eval_set(model, files, [10.0, 90.0], tables, ceiling=ceil)
    for row in rows:
        assert row["images"] == evaluate.eval_files(model, files, row["quality"], *tables, with_ms_ssim=False)
        for f, img in zip(files, row["images"]):  # and as code_image runs g_a itself (the path before)
            r = evaluate.code_image(model, evaluate.load_image(f), row["quality"], *tables)
            assert img["bpp"] == (r["bits_y"] + r["bits_z"]) / r["pixels"]
            ref = np.asarray(Image.open(f).convert("RGB"))
            assert img["psnr"] == evaluate.psnr(ref, r["rec"])
    assert rows[0]["bpp"] < rows[1]["bpp"]
    assert campaign.ceiling_summary(ceil) == campaign.ceiling(model, files)
