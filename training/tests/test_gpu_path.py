"""The GPU chain on the CPU, on tiny data, so that it cannot rot between GPU leases: pack → a few
steps on device-side crops (bf16 autocast, channels-last, EMA, validation) → checkpoint → exact
resume → the release checkpoint split into parts and joined as through the GPU machine's output
folder → export → the package restores the model."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import export
import train
from conftest import write_wave_pngs
from hicodec_train import ort
from hicodec_train.data import DeviceCropSampler
from hicodec_train.pack import load_pack, write_pack
from hicodec_train.package import load_package_model

TINY = dict(N=16, M=32, Nz=16, hs_hidden=16, hm_hidden=16, gs_dims=[32, 16, 16], gs_depths=[2, 2, 2], gs_heads=[2, 1, 1],
            gs_c2=8, slices=[8, 8, 16], ctx_hidden=8, lrp=True, lrp_hidden=8)


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpu")
    files = write_wave_pngs(d, 8, 128, seed=3)
    train_info = write_pack(files[:6], d / "train.hpk")
    write_pack(files[6:], d / "val.hpk")
    cfg = d / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    return d, train_info, cfg


def args(d, cfg, out, steps, extra=()):
    return ["--pack", str(d / "train.hpk"), "--val", str(d / "val.hpk"), "--val-minutes", "1e-6", "--val-crop", "64",
            "--out", str(out), "--steps", str(steps), "--crop", "64", "--batch", "2", "--log-every", "1", "--warmup", "2",
            "--lr", "1e-3", "--config", str(cfg), "--threads", "2", "--amp", "bf16", "--channels-last", "--compile",
            "--ema", "0.9", "--gray-prob", "0.3", *extra]


def test_pack_is_near_lossless_and_refuses_kodak(packs, tmp_path):
    d, info, _ = packs
    # these crops carry heavy pixel noise (σ ≈ 8 levels); CID22 photos measure higher (training/README.md)
    assert info["images"] == 6 and info["psnr_min"] > 38, info
    imgs = load_pack(d / "train.hpk")
    assert len(imgs) == 6 and imgs[0].shape == (128, 128, 3) and imgs[0].dtype == np.uint8
    Image.fromarray(imgs[0]).save(tmp_path / "kodim01.png")
    write_pack([tmp_path / "kodim01.png"], tmp_path / "k.hpk")
    with pytest.raises(ValueError, match="Kodak"):
        load_pack(tmp_path / "k.hpk")


def test_device_crops_are_random_flipped_rescaled_and_resumable():
    imgs = [np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8) for i in range(3)]
    s = DeviceCropSampler(imgs, 64, "cpu", seed=5, scale_min=0.75)
    a = s.batch(8)
    assert a.shape == (8, 3, 64, 64) and 0 <= float(a.min()) and float(a.max()) <= 1
    state = s.state()
    b = s.batch(8)
    s.set_state(state)
    assert torch.equal(b, s.batch(8))
    assert not torch.equal(a, b)
    # scale 1, no flips: an exact pixel crop of one of the images
    exact = DeviceCropSampler([imgs[0]], 64, "cpu", seed=1, scale_min=1.0)
    exact._rand = lambda *shape: torch.full(shape, 0.75)  # image 0, no flips (0.75 ≥ 0.5), window at 3/4
    c = exact.batch(1)[0]
    y0, x0 = (96 - 64) * 3 // 4, (128 - 64) * 3 // 4
    ref = torch.from_numpy(imgs[0][y0 : y0 + 64, x0 : x0 + 64]).permute(2, 0, 1).float() / 255
    assert float((c - ref).abs().max()) < 1e-5


def test_scale_tail_enlarges_a_share_of_crops_and_leaves_no_tail_unchanged():
    imgs = [np.random.default_rng(7).integers(0, 256, (256, 256, 3), dtype=np.uint8)]
    plain = DeviceCropSampler(imgs, 64, "cpu", seed=3, scale_min=0.75, scale_max=1.5)
    none = DeviceCropSampler(imgs, 64, "cpu", seed=3, scale_min=0.75, scale_max=1.5, scale_tail=(0.0, 0.0))
    assert torch.equal(plain.batch(6), none.batch(6))  # no tail: the same random stream, the same crops

    def roughness(x):  # mean absolute difference of horizontal neighbours: noise enlarged 4× is smoother
        return float((x[..., 1:] - x[..., :-1]).abs().mean())

    tail = DeviceCropSampler(imgs, 64, "cpu", seed=3, scale_min=1.0, scale_max=1.0, scale_tail=(1.0, 4.0))
    ones = DeviceCropSampler(imgs, 64, "cpu", seed=3, scale_min=1.0, scale_max=1.0)
    assert roughness(tail.batch(16)) < 0.7 * roughness(ones.batch(16))
    with pytest.raises(ValueError, match="tail"):
        DeviceCropSampler(imgs, 64, "cpu", scale_max=1.5, scale_tail=(0.2, 1.2))


def test_chain_train_resume_split_join_export(packs, tmp_path):
    d, _, cfg = packs
    straight = tmp_path / "straight"
    assert train.main(args(d, cfg, straight, 4)) == 0
    a = torch.load(straight / "last.pt", map_location="cpu")
    assert a["step"] == 4 and a["crops_seen"] == 8 and a["ema"] is not None
    assert a["record"]["amp"] == "bf16" and len(a["val_history"]) >= 1
    assert {p["lam"] for p in a["val_history"][-1]["points"]} == {a["config"]["lambdas"][i] for i in (0, 3, 5)}

    # the same run cut in two: exact resume (weights, optimizer, EMA, sampler RNG)
    cut = tmp_path / "cut"
    assert train.main(args(d, cfg, cut, 2)) == 0
    assert train.main(args(d, cfg, cut, 4, ["--resume", "auto", "--release", str(cut / "release.pt")])) == 0
    b = torch.load(cut / "last.pt", map_location="cpu")
    for k, v in a["model"].items():
        assert torch.allclose(v.float(), b["model"][k].float(), atol=1e-5), k
    for k, v in a["ema"].items():
        assert torch.allclose(v.float(), b["ema"][k].float(), atol=1e-5), k
    assert [h["loss"] for h in a["history"]] == pytest.approx([h["loss"] for h in b["history"]], rel=1e-4)

    # bring back: split into parts (as for the 16 MiB output-file limit), join, export
    from tools.parts import join, split

    rel = cut / "release.pt"
    index = split(rel, tmp_path / "OUT", max_mib=0.2)
    parts = json.loads(index.read_text())["parts"]
    assert len(parts) >= 2 and all(p["bytes"] <= 0.2 * 2**20 for p in parts)
    joined = join(index, tmp_path / "back" / "release.pt")
    assert joined.read_bytes() == rel.read_bytes()
    (tmp_path / "OUT" / parts[0]["file"]).write_bytes(b"x")
    with pytest.raises(ValueError):
        join(index, tmp_path / "bad.pt")

    pkg = tmp_path / "pkg"
    eargs = [str(joined), "--id", "hic-gpu-test", "--out", str(pkg)] + ([] if ort.available() else ["--no-parity"])
    assert export.main(eargs) == 0
    manifest = json.loads((pkg / "manifest.json").read_text())
    assert manifest["context"]["slices"] == [8, 8, 16] and manifest["format_version"] == 2
    if ort.available():
        for r in manifest["export"]["parity"].values():
            assert r["hyper_scale_mismatches"] == 0 and r["hyper_scale_hidden_mismatches"] == 0, r
            assert r["context_mean"] < 1e-4 and r["context_refine"] < 1e-4, r
    restored, _ = load_package_model(pkg)
    release = torch.load(joined, map_location="cpu")["model"]
    integer = ("h_s_scale.", "ctx.index.", "ctx.scale_ctx.")
    for k, v in restored.state_dict().items():  # float weights as shipped (fp16-rounded)
        if k in release and v.is_floating_point() and not k.startswith(("entropy_z",) + integer):
            assert torch.allclose(v, release[k].float(), atol=2e-3 * max(1.0, float(release[k].abs().max()))), k
    # integer layers: the package restores weights that quantize to exactly the shipped integers
    from hicodec_train.intnet import IntConv, layer_params
    from hicodec_train.model import HiCodec, ModelConfig

    original = HiCodec(ModelConfig(**TINY))
    original.load_state_dict(release)
    mods = dict(restored.named_modules())
    n = 0
    for name, mod in original.named_modules():
        if isinstance(mod, IntConv):
            a, b = layer_params(mod), layer_params(mods[name])
            assert all(np.array_equal(a[f], b[f]) for f in ("w", "b", "mult")), name
            n += 1
    assert n == 2 + 3 + 2  # l0, l1; three index layers; two context layers
