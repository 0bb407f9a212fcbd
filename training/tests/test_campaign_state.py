"""The campaign's committed state (training/tools/campaign_state.py): a checkpoint saved as its
difference from the package it started from restores within half a quantization step (tensors of
another shape, e.g. a narrowed g_s, to their fp16 values), carries the campaign's totals, resumes
through `train.py --init`, and is refused against a package with other weights."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import export
from hicodec_train.model import HiCodec, ModelConfig
from hicodec_train.package import load_package_model, stored_fp16

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING / "tools"))
import campaign_state  # noqa: E402

SMALL = dict(arch="v5", M=64, Nz=32, N=32, hs_hidden=32, hm_hidden=32, ga_dims=[16, 32, 48], gs_dims=[48], gs_depths=[1],
             gs_heads=[2], gs_convs=[24, 16, 8], slices=[16, 16, 32], ctx_hidden=16, lrp=True, lrp_hidden=16,
             lambdas=[0.0018, 0.013, 0.0483])


def _package(d: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    m = HiCodec(ModelConfig(**SMALL))
    with torch.no_grad():  # distinct, non-zero tensors (the exporter merges equal initializers)
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ck = d / f"m{seed}.pt"
    torch.save(dict(model=m.state_dict(), config=m.cfg.to_dict(), step=1, elapsed=1.0, record=dict(data=["synthetic"], images=0)), ck)
    out = d / f"pkg{seed}"
    assert export.main([str(ck), "--id", f"hic-test-{seed}", "--out", str(out), "--no-parity"]) == 0
    return out


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    d = tmp_path_factory.mktemp("state")
    return _package(d, 0), _package(d, 1)


def _trained_from(pkg: Path, narrow: bool, seed: int = 3) -> dict:
    """A checkpoint as the campaign writes it: started from the package, moved by training; with
    `narrow`, g_s's /8 residual block narrowed (another shape than the package's)."""
    base, _ = load_package_model(pkg)
    cfg = ModelConfig(**{**base.cfg.to_dict(), **({"gs_res_hidden": [12, 16, 8]} if narrow else {})})
    m = HiCodec(cfg)
    state = m.state_dict()
    ref = base.state_dict()
    g = torch.Generator().manual_seed(seed)
    for k, v in state.items():
        if k in ref and ref[k].shape == v.shape:
            v.copy_(ref[k])
        if v.is_floating_point():
            v.add_(1e-3 * torch.randn(v.shape, generator=g))
    ema = {k: v.clone() for k, v in state.items()}
    for v in ema.values():
        if v.is_floating_point():
            v.add_(2e-4 * torch.randn(v.shape, generator=g))
    return dict(model=state, ema=ema, config=cfg.to_dict(), step=500, elapsed=900.0, cpu_elapsed=600.0, crops_seen=4000,
                record=dict(data=["synthetic"], lambdas=list(cfg.lambdas)))


def test_state_restores_the_ema_within_half_a_step_and_carries_the_totals(packages, tmp_path):
    pkg, _ = packages
    ck = _trained_from(pkg, narrow=True)
    torch.save(ck, tmp_path / "last.pt")
    state = tmp_path / "state.npz.xz"
    assert campaign_state.main(["save", str(tmp_path / "last.pt"), "--base", str(pkg), "--out", str(state), "--offset", "641.7,172976"]) == 0
    restored = campaign_state.restore(state, pkg)
    meta, arrays = campaign_state.read_state(state)
    assert meta["kinds"]["g_s.res8.body.0.weight"] == "whole" and meta["kinds"]["g_s.res4.body.0.weight"] == "delta"
    for k, v in ck["ema"].items():
        got = restored["model"][k]
        assert got.shape == v.shape and got.dtype == v.dtype, k
        kind = meta["kinds"][k]
        if kind == "delta":
            step = torch.from_numpy(arrays[f"s/{k}"]).reshape(-1, *([1] * (v.dim() - 1))) if v.dim() >= 2 else float(arrays[f"s/{k}"][0])
            assert ((got - v).abs() <= step / 2 * 1.001 + 1e-7).all(), k
        elif kind == "whole":  # fp16 where the export stores fp16, else exact
            assert torch.equal(got, v.half().float() if stored_fp16(k, v.numel()) else v), k
        else:
            assert torch.equal(got, v), k
    # a new line starts: its counters from 0, the campaign's totals so far in the record
    assert restored["step"] == 0 and restored["cpu_elapsed"] == 0.0 and restored["crops_seen"] == 0
    assert restored["record"]["campaign_offset"] == {"cpu_minutes": 651.7, "crops": 176976}
    assert restored["record"]["restored_from"]["step"] == 500
    assert restored["config"]["gs_res_hidden"] == [12, 16, 8]
    assert restored["record"]["weights"] == "EMA" and "crops_seen" not in {k for k in restored["record"] if k != "campaign_offset"}
    # the λ gains (another shape than the package's: it has an extrapolated quality 0) stay fp32
    assert meta["kinds"]["log_gain"] == "delta" or arrays["h/log_gain"].dtype == "float32"
    # an --offset that contradicts the record's is refused
    torch.save(restored, tmp_path / "x.pt")
    with pytest.raises(SystemExit, match="contradicts"):
        campaign_state.save(tmp_path / "x.pt", pkg, tmp_path / "y", 256, dict(cpu_minutes=1.0, crops=1))


def test_quantize_edges():
    import numpy as np

    for shape in [(), (5,), (3, 0, 3, 3), (2, 4)]:
        d = np.full(shape, 0.01, np.float32)
        ints, step = campaign_state.quantize(d, np.ones(shape, np.float32), 256)
        assert ints.shape == d.shape and np.allclose(campaign_state.dequantize(ints, step), d, atol=float(step.max()) / 2 + 1e-9)
    big = np.array([[1e4, -1e4]], np.float32)
    ints, step = campaign_state.quantize(big, np.full((1, 2), 1e-3, np.float32), 10**6)
    assert ints.dtype == np.int32 and np.allclose(campaign_state.dequantize(ints, step), big, rtol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        campaign_state.quantize(np.array([np.nan], np.float32), np.ones(1, np.float32), 256)


def test_totals_add_up_over_two_lines_without_an_offset_flag(packages, tmp_path):
    """The second save takes the totals before its line from the restored record, not the flag."""
    pkg, _ = packages
    torch.save(_trained_from(pkg, narrow=False), tmp_path / "a.pt")
    s1 = tmp_path / "s1.npz.xz"
    with pytest.raises(SystemExit, match="--offset"):
        campaign_state.save(tmp_path / "a.pt", pkg, s1, 256, None)
    campaign_state.save(tmp_path / "a.pt", pkg, s1, 256, dict(cpu_minutes=100.0, crops=1000))
    line2 = campaign_state.restore(s1, pkg)
    line2.update(cpu_elapsed=120.0, crops_seen=800, step=40)
    torch.save(line2, tmp_path / "b.pt")
    out = campaign_state.save(tmp_path / "b.pt", pkg, tmp_path / "s2.npz.xz", 256, None)
    assert out["campaign_totals"] == {"cpu_minutes": 112.0, "crops": 5800}


def test_a_state_is_refused_against_other_weights(packages, tmp_path):
    pkg, other = packages
    torch.save(_trained_from(pkg, narrow=False), tmp_path / "a.pt")
    state = tmp_path / "s.npz.xz"
    campaign_state.save(tmp_path / "a.pt", pkg, state, 256, dict(cpu_minutes=0.0, crops=0))
    with pytest.raises(campaign_state.StaleState, match="hic-test-0"):
        campaign_state.restore(state, other)
    assert campaign_state.main(["restore", str(state), "--base", str(other), "--out", str(tmp_path / "r.pt")]) == 3
    assert not (tmp_path / "r.pt").exists()


def test_a_restored_state_trains_on_with_train_py_init(packages, tmp_path):
    import train
    from conftest import write_wave_pngs

    pkg, _ = packages
    torch.save(_trained_from(pkg, narrow=True), tmp_path / "a.pt")
    state = tmp_path / "s.npz.xz"
    campaign_state.save(tmp_path / "a.pt", pkg, state, 256, dict(cpu_minutes=10.0, crops=80))
    assert campaign_state.main(["restore", str(state), "--base", str(pkg), "--out", str(tmp_path / "start.pt")]) == 0
    images = tmp_path / "imgs"
    images.mkdir()
    write_wave_pngs(images, 3, 96, seed=0)
    assert train.main(["--out", str(tmp_path / "run"), "--init", str(tmp_path / "start.pt"), "--data", str(images), "--crop", "64",
                       "--batch", "2", "--threads", "1", "--steps", "2", "--log-every", "1", "--ema", "0.9"]) == 0
    done = torch.load(tmp_path / "run" / "last.pt", map_location="cpu")
    assert done["step"] == 2 and tuple(done["config"]["gs_res_hidden"]) == (12, 16, 8)
    assert done["record"]["campaign_offset"] == {"cpu_minutes": 20.0, "crops": 4080}
    # a line started (--init) from a checkpoint of a restored line that trained on counts its minutes too
    done["record"]["weights"] = "last"
    torch.save(dict(done, cpu_elapsed=300.0, crops_seen=40), tmp_path / "mid.pt")
    assert train.main(["--out", str(tmp_path / "run2"), "--init", str(tmp_path / "mid.pt"), "--data", str(images), "--crop", "64",
                       "--batch", "2", "--threads", "1", "--steps", "1", "--log-every", "1"]) == 0
    assert torch.load(tmp_path / "run2" / "last.pt")["record"]["campaign_offset"] == {"cpu_minutes": 25.0, "crops": 4120}
    assert json.loads(json.dumps(done["record"]["restored_from"]))["step"] == 500


def _recipe_tree(tmp_path: Path, pkg: Path) -> Path:
    """A stand-in repository for base-v7.sh: the recipe, the real tools, one package as the
    default, and a trainer that only records its arguments."""
    root = tmp_path / "repo"
    (root / "training" / "recipes").mkdir(parents=True)
    for recipe in ("base-v7.sh", "gpu.sh"):
        (root / "training" / "recipes" / recipe).write_text((TRAINING / "recipes" / recipe).read_text())
    (root / "training" / "tools").symlink_to(TRAINING / "tools")
    (root / "models").mkdir()
    (root / "models" / pkg.name).symlink_to(pkg)
    (root / "models" / "DEFAULT").write_text(pkg.name + "\n")
    for stub in ("train", "campaign"):  # stand-ins that only record their arguments
        (root / f"stub_{stub}.py").write_text(f"import json, sys\nopen('runs/{stub}-args.json', 'w').write(json.dumps(sys.argv[1:]))\n")
    (root / "runs").mkdir()
    return root


def _recipe(root: Path, recipe: str, *argv: str, stub: str = "train", env: dict | None = None):
    """Runs a recipe of the stand-in tree: its exit status, the arguments its stub `stub` got, stderr."""
    import os
    import subprocess

    env = {**os.environ, "HICODEC_TRAIN_PY": str(root / "stub_train.py"), "HICODEC_CAMPAIGN_PY": str(root / "stub_campaign.py"),
           "PY": sys.executable, **(env or {})}
    r = subprocess.run(["bash", str(root / "training" / "recipes" / recipe), *argv], env=env, capture_output=True, text=True,
                       timeout=300, cwd=root)
    args = root / "runs" / f"{stub}-args.json"
    got = json.loads(args.read_text()) if args.exists() else None
    if args.exists():
        args.unlink()
    return r.returncode, got, r.stderr


def _campaign(root: Path):
    return _recipe(root, "base-v7.sh", "campaign")


def _start(args: list) -> list:
    i = args.index("--out")
    return args[i + 2 : i + 4]


def test_the_recipe_restores_the_state_refuses_what_is_older_and_falls_back_only_when_stale(packages, tmp_path):
    pkg, other = packages
    root = _recipe_tree(tmp_path, pkg)
    # no checkpoint, no state: the shipped package
    rc, args, _ = _campaign(root)
    assert rc == 0 and _start(args) == ["--init", f"models/{pkg.name}"]
    # a committed state: restored, and the line starts from it
    torch.save(_trained_from(pkg, narrow=True), tmp_path / "a.pt")
    state = root / "training" / "campaign-state.npz.xz"
    campaign_state.save(tmp_path / "a.pt", pkg, state, 256, dict(cpu_minutes=700.0, crops=9000))
    rc, args, err = _campaign(root)
    assert rc == 0 and _start(args) == ["--init", "runs/campaign/restored.pt"], err
    assert torch.load(root / "runs" / "campaign" / "restored.pt")["record"]["campaign_offset"]["cpu_minutes"] == 710.0
    # a checkpoint of a line that started from that state and trained on: resumed
    line = campaign_state.restore(state, pkg)
    line.update(cpu_elapsed=60.0, crops_seen=8)
    torch.save(line, root / "runs" / "campaign" / "last.pt")
    rc, args, _ = _campaign(root)
    assert rc == 0 and _start(args) == ["--resume", "auto"]
    # an older machine's checkpoint (fewer crops in all than the state): refused
    old = dict(line, cpu_elapsed=0.0)
    old["record"] = dict(line["record"], campaign_offset=dict(cpu_minutes=650.0, crops=100))
    torch.save(old, root / "runs" / "campaign" / "last.pt")
    rc, args, err = _campaign(root)
    assert rc == 2 and args is None and "trained further" in err
    (root / "runs" / "campaign" / "last.pt").unlink()
    # a state of another package (after a ship): the new package
    (root / "models" / "DEFAULT").write_text(other.name + "\n")
    (root / "models" / other.name).symlink_to(other)
    rc, args, err = _campaign(root)
    assert rc == 0 and _start(args) == ["--init", f"models/{other.name}"] and "predates" in err
    # a state that cannot be read: an error, not a silent start from the package
    state.write_bytes(b"not an xz stream")
    rc, args, err = _campaign(root)
    assert rc == 2 and args is None and "failed" in err


def test_check_reports_what_each_precision_costs(packages, tmp_path, monkeypatch):
    import campaign
    from conftest import write_wave_pngs

    pkg, _ = packages
    (tmp_path / "data" / "cid22-val").mkdir(parents=True)
    write_wave_pngs(tmp_path / "data" / "cid22-val", 2, 64, seed=4)
    monkeypatch.setattr(campaign, "DATA", tmp_path / "data")
    torch.save(_trained_from(pkg, narrow=False), tmp_path / "a.pt")
    out = campaign_state.check(tmp_path / "a.pt", pkg, [4, 1024], 2, 1)
    assert out["images"] == 2 and set(out["r"]) == {4, 1024}
    fine, coarse = out["r"][1024], out["r"][4]
    # finer steps: a bigger file and (nearly) the checkpoint's own points
    assert fine["bytes"] > coarse["bytes"]
    assert max(abs(v) for v in fine["dpsnr"]) < 0.01 and max(abs(v) for v in fine["dpsnr"]) <= max(abs(v) for v in coarse["dpsnr"])


def test_packs_fit_the_room_the_tree_leaves_with_a_quality_per_photo(tmp_path):
    import pack_data
    from conftest import write_wave_pngs

    for name, n, seed in (("train", 6, 1), ("val", 4, 2)):
        (tmp_path / name).mkdir()
        write_wave_pngs(tmp_path / name, n, 96, seed=seed)
    Image.fromarray(np.zeros((96, 96, 3), np.uint8) + 128).save(tmp_path / "train" / "flat.png")  # far above any floor
    common = ["--train", str(tmp_path / "train"), "--val", str(tmp_path / "val"), "--out", str(tmp_path / "pack")]
    assert pack_data.main(common + ["--val-count", "2"]) == 0
    full = json.loads((tmp_path / "pack" / "pack.json").read_text())
    assert full["cid22-train"]["quality"] == 97 and full["cid22-val"]["images"] == 2
    uniform = []  # one quality for all, stepped down until it fits: what a quality per photo must beat
    room = (full["cid22-train"]["bytes"] + full["cid22-val"]["bytes"]) * 0.8 / 2**20
    for q in range(96, 80, -1):
        assert pack_data.main(common + ["--val-count", "2", "--quality", str(q)]) == 0
        uniform = json.loads((tmp_path / "pack" / "pack.json").read_text())
        if sum(r["bytes"] for r in uniform.values()) / 2**20 <= room:
            break
    assert pack_data.main(common + ["--val-count", "2", "--fit-mib", str(room), "--quality", "98", "--min-quality", "80"]) == 0
    fit = json.loads((tmp_path / "pack" / "pack.json").read_text())
    assert sum(r["bytes"] for r in fit.values()) / 2**20 <= room
    lo, hi = fit["cid22-train"]["qualities"]
    assert lo < hi  # the flat image needs less than the textured ones
    worst = lambda rep: min(r["psnr_min"] for r in rep.values())  # noqa: E731
    assert worst(fit) >= worst(uniform), (fit, uniform)
    # nothing fits: an error, and the packs written before stay as they were
    before = (tmp_path / "pack" / "cid22-train.hpk").read_bytes()
    assert pack_data.main(common + ["--fit-mib", "0.001", "--min-quality", "95"]) == 2
    assert (tmp_path / "pack" / "cid22-train.hpk").read_bytes() == before


def test_the_gpu_chain_trains_from_the_state_and_brings_it_back_ahead(packages, tmp_path):
    pkg, other = packages
    root = _recipe_tree(tmp_path, pkg)
    state = root / "training" / "campaign-state.npz.xz"
    torch.save(_trained_from(pkg, narrow=True), tmp_path / "a.pt")
    campaign_state.save(tmp_path / "a.pt", pkg, state, 256, dict(cpu_minutes=700.0, crops=9000))  # 710 CPU-min, 13,000 crops
    # the first command on the device: the state restored, the campaign's configuration on the GPU's batch
    rc, args, err = _recipe(root, "gpu.sh", "train", "7.5")
    assert rc == 0, err
    assert args[args.index("--out") + 1 : args.index("--out") + 5] == ["runs/gpu", "--resume", "auto", "--init"]
    assert args[args.index("--init") + 1] == "runs/gpu/restored.pt"
    for flag, value in (("--config", "training/recipes/base-v7-512.json"), ("--freeze", "h_a.,g_a."), ("--batch", "64"), ("--amp", "bf16")):
        assert args[args.index(flag) + 1] == value
    assert "--balance-lambdas" in args and "--compile" not in args
    # the line the device trained (GPU time counted apart from CPU time), brought back as a state
    line = campaign_state.restore(state, pkg)
    line.update(ema=_trained_from(pkg, narrow=True, seed=5)["model"], step=4000, elapsed=420.0, cpu_elapsed=400.0, crops_seen=128000)
    line["record"] = dict(line["record"], device="cuda")
    torch.save(line, root / "runs" / "gpu" / "last.pt")
    (root / "runs" / "gpu" / "train.log").write_text("step 4000\n")
    rc, args, err = _recipe(root, "gpu.sh", "train", "7.5")  # a later command on the warm machine: resumed
    assert rc == 0 and "--init" not in args and args[args.index("--resume") + 1] == "auto", err
    out = tmp_path / "OUT"
    out.mkdir()
    rc, _, err = _recipe(root, "gpu.sh", "bring-back", str(out))
    assert rc == 0, err
    back, _ = campaign_state.read_state(out / "campaign-state.npz.xz")
    assert back["campaign_totals"] == {"cpu_minutes": 710.0, "crops": 141000, "gpu_minutes": 7.0}
    assert (out / "train.log").read_text() == "step 4000\n"
    # here: evaluated first, nothing changes
    (root / "runs" / "campaign").mkdir()
    committed = state.read_bytes()
    rc, args, err = _recipe(root, "gpu.sh", "finish", str(out / "campaign-state.npz.xz"), stub="campaign")
    assert rc == 0 and args[:2] == ["eval", "runs/gpu/restored.pt"], err
    assert torch.load(root / "runs" / "gpu" / "restored.pt")["record"]["campaign_offset"]["gpu_minutes"] == 7.0
    assert state.read_bytes() == committed and (root / "runs" / "campaign").exists()
    # adopted: a state that has not trained further than the committed one changes nothing
    rc, _, err = _recipe(root, "gpu.sh", "adopt", str(state))
    assert rc == 2 and "not trained further" in err
    # one that has becomes the campaign's; the CPU line forked from the older state moves aside
    rc, _, err = _recipe(root, "gpu.sh", "adopt", str(out / "campaign-state.npz.xz"))
    assert rc == 0, err
    assert state.read_bytes() == (out / "campaign-state.npz.xz").read_bytes()
    assert not (root / "runs" / "campaign").exists() and len(list((root / "runs").glob("campaign-before-gpu-*"))) == 1
    # and the CPU campaign goes on from it
    rc, args, _ = _campaign(root)
    assert rc == 0 and _start(args) == ["--init", "runs/campaign/restored.pt"]


def test_the_gpu_chain_starts_from_the_package_only_with_its_totals(packages, tmp_path):
    pkg, _ = packages
    root = _recipe_tree(tmp_path, pkg)
    rc, args, err = _recipe(root, "gpu.sh", "train", "7.5")  # no state: stops before any device time is spent
    assert rc == 2 and args is None and "OFFSET" in err
    env_offset = {"OFFSET": "641.7,172976"}
    rc, args, err = _recipe(root, "gpu.sh", "train", "7.5", env=env_offset)
    assert rc == 0 and args[args.index("--init") + 1] == f"models/{pkg.name}", err
    # its line brought back as a state with those totals
    line = _trained_from(pkg, narrow=False)
    line["record"] = dict(line["record"], device="cuda")
    (root / "runs" / "gpu").mkdir(exist_ok=True)
    torch.save(line, root / "runs" / "gpu" / "last.pt")
    (tmp_path / "OUT").mkdir()
    rc, _, err = _recipe(root, "gpu.sh", "bring-back", str(tmp_path / "OUT"), env=env_offset)
    assert rc == 0, err
    back, _ = campaign_state.read_state(tmp_path / "OUT" / "campaign-state.npz.xz")
    assert back["campaign_totals"] == {"cpu_minutes": 641.7, "crops": 176976, "gpu_minutes": 15.0}
