"""The campaign's measurements: eval of a checkpoint on the three sets (validation photos, large
photos, Kodak) with the Kodak ceiling, and the log → CAMPAIGN.md table, BD-rates and plot."""
import json
import shutil

import torch

import campaign
from conftest import write_wave_pngs
from hicodec_train.model import HiCodec, ModelConfig


def test_eval_then_log_writes_rows_bd_rates_and_the_plot(tmp_path, monkeypatch):
    data = tmp_path / "data"
    for sub in ("cid22-val", "large", "kodak"):
        (data / sub).mkdir(parents=True)
    write_wave_pngs(data / "cid22-val", 2, 64, 1)
    write_wave_pngs(data / "kodak", 2, 96, 2)
    for i, name in enumerate(campaign.LARGE_PHOTOS):
        write_wave_pngs(tmp_path, 1, 128, 10 + i)
        shutil.move(tmp_path / "s0.png", data / "large" / name)
    monkeypatch.setattr(campaign, "DATA", data)
    for name in ("CAMPAIGN_JSON", "CAMPAIGN_MD", "PLOT"):
        monkeypatch.setattr(campaign, name, tmp_path / getattr(campaign, name).name)
    torch.manual_seed(0)
    cfg = ModelConfig(arch="v5", M=32, Nz=16, N=16, hs_hidden=16, hm_hidden=16, ga_dims=(8, 16, 16), gs_dims=(32,), gs_depths=(2,),
                      gs_heads=(2,), gs_convs=(16, 8, 8), lambdas=(0.0018, 0.013, 0.0483))
    m = HiCodec(cfg)
    ck = tmp_path / "m.pt"
    torch.save(dict(model=m.state_dict(), config=cfg.to_dict(), step=5, elapsed=120.0, cpu_elapsed=90.0, crops_seen=40,
                    record=dict(batch=8, crop=64)), ck)
    ev = tmp_path / "ev.json"
    assert campaign.main(["eval", str(ck), "--out", str(ev), "--threads", "1"]) == 0
    e = json.loads(ev.read_text())
    assert e["counts"] == {"cid22-val": 2, "large": 4, "kodak": 2}
    assert [r["lambda"] for r in e["sets"]["cid22-val"]] == [0.0018, 0.013, 0.0483]
    # no quantization is an upper bound of the quantized path; more bits at higher quality
    k = e["sets"]["kodak"]
    assert e["ceiling_kodak"]["images"] == 2 and e["ceiling_kodak"]["mean"] >= max(r["psnr"] for r in k) - 0.1
    assert k[-1]["bpp"] > k[0]["bpp"]
    # the evaluated weights are kept beside the eval, loadable as a model again
    kept = torch.load(ev.with_suffix(".pt"), map_location="cpu")
    assert kept["step"] == 5 and kept["record"]["weights"] == "last"
    back = HiCodec(ModelConfig(**kept["config"]))
    back.load_state_dict(kept["model"])
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), m.state_dict().values()))
    assert campaign.main(["log", str(ev), "--ref", str(ev), "--label", "smoke", "--note", "test"]) == 0
    log = json.loads(campaign.CAMPAIGN_JSON.read_text())
    row = log["rows"][0]
    assert row["cpu_minutes_total"] == 1.5 and row["crops_seen"] == 40
    assert row["bd_rate_vs_reference"]["kodak"] == 0.0  # against itself
    md = campaign.CAMPAIGN_MD.read_text()
    assert "| smoke: test | 1.5 | 40 |" in md
    # logging the same label again replaces its row
    assert campaign.main(["log", str(ev), "--label", "smoke"]) == 0
    assert len(json.loads(campaign.CAMPAIGN_JSON.read_text())["rows"]) == 1
    # a line restored from the committed state counts on from the campaign's totals before it
    e["model"]["record"]["campaign_offset"] = {"cpu_minutes": 641.7, "crops": 172976}
    ev2 = tmp_path / "ev2.json"
    ev2.write_text(json.dumps(e))
    assert campaign.main(["log", str(ev2), "--label", "restored"]) == 0
    row = json.loads(campaign.CAMPAIGN_JSON.read_text())["rows"][-1]
    assert row["cpu_minutes_total"] == 643.2 and row["crops_seen"] == 173016 and "gpu_minutes_total" not in row
    # a line that trained on a GPU (gpu.sh): its GPU-minutes are counted apart and shown beside the CPU's
    e["model"].update(cpu_minutes=0.0, gpu_minutes=7.5)
    e["model"]["record"]["campaign_offset"] = {"cpu_minutes": 758.1, "crops": 199912, "gpu_minutes": 1.5}
    ev2.write_text(json.dumps(e))
    assert campaign.main(["log", str(ev2), "--label", "gpu"]) == 0
    row = json.loads(campaign.CAMPAIGN_JSON.read_text())["rows"][-1]
    assert row["cpu_minutes_total"] == 758.1 and row["gpu_minutes_total"] == 9.0 and row["crops_seen"] == 199952
    assert "| 758.1 + 9.0 GPU |" in campaign.CAMPAIGN_MD.read_text()


def test_dct_bound_rises_with_channels_and_keeps_all_768(tmp_path, monkeypatch):
    (tmp_path / "kodak").mkdir()
    write_wave_pngs(tmp_path / "kodak", 2, 40, 3)  # 40 px: not a multiple of 16 (edge padding)
    monkeypatch.setattr(campaign, "DATA", tmp_path)
    out = tmp_path / "bound.json"
    assert campaign.main(["dct-bound", "--set", "kodak", "--channels", "16", "96", "768", "--out", str(out)]) == 0
    r = json.loads(out.read_text())["channels"]
    assert r["16"]["images"] == 2
    assert r["16"]["mean"] < r["96"]["mean"] < r["768"]["mean"]
    assert r["768"]["min"] > 60  # the whole basis: only 8-bit rounding is left


def test_milestone_tables_a_bench_run_and_replaces_the_same_set_and_model(tmp_path, monkeypatch):
    for name in ("CAMPAIGN_JSON", "CAMPAIGN_MD", "PLOT"):
        monkeypatch.setattr(campaign, name, tmp_path / getattr(campaign, name).name)

    def bench(name, webp, avif=None, reused=()):
        vs = {"webp": {"bd_rate_psnr": webp}, "mozjpeg-444": {"bd_rate_psnr": -30.04}}
        if avif is not None:
            vs["avif-e9"] = {"bd_rate_psnr": avif}
        f = tmp_path / name
        f.write_text(json.dumps({"model": {"id": "m1"}, "machine": {"date": "2026-12-01T10:00:00Z"}, "summary": {"vs_measured": vs},
                                 **({"reused": {"from": "x.json", "codecs": list(reused)}} if reused else {})}))
        return f

    assert campaign.main(["milestone", str(bench("k.json", 3.44, 40.0, reused=("avif-e9",))), "--set", "kodak"]) == 0
    assert campaign.main(["milestone", str(bench("l.json", -7.2)), "--set", "large"]) == 0
    md = campaign.CAMPAIGN_MD.read_text()
    assert "| 2026-12-01 | m1 | kodak | -30.0% ✓ | +3.4% | – | – | +40.0%† | [k.json]" in md
    assert "| 2026-12-01 | m1 | large | -30.0% ✓ | -7.2% ✓ | – | – | – | [l.json]" in md
    # a newer run of the same set and model replaces its entry
    assert campaign.main(["milestone", str(bench("k2.json", -1.0)), "--set", "kodak"]) == 0
    ms = json.loads(campaign.CAMPAIGN_JSON.read_text())["milestones"]
    assert [(m["set"], m["bench"]) for m in ms] == [("large", "l.json"), ("kodak", "k2.json")]
