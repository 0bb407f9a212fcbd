"""A short training run on tiny synthetic crops lowers the rate–distortion loss, and a resumed run
continues exactly where the checkpoint left it."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
from conftest import write_wave_pngs


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    write_wave_pngs(d, 6, 96, seed=0)
    return d


@pytest.fixture(scope="module")
def tiny_cfg_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tiny.json"
    p.write_text(json.dumps(dict(N=16, M=32, Nz=16, hs_hidden=16, hm_hidden=16, gs_dims=[32, 16, 16],
                                 gs_depths=[2, 2, 2], gs_heads=[2, 1, 1], gs_c2=8)))
    return p


def run(images, cfg, out, steps, extra=()):
    args = ["--data", str(images), "--out", str(out), "--steps", str(steps), "--crop", "64", "--batch", "4",
            "--log-every", "1", "--warmup", "5", "--lr", "1e-3", "--config", str(cfg), "--threads", "1", *extra]
    assert train.main(args) == 0
    return torch.load(out / "last.pt", map_location="cpu")


def test_short_training_lowers_the_loss(images, tiny_cfg_file, tmp_path):
    ck = run(images, tiny_cfg_file, tmp_path / "run", 150)
    losses = [h["loss"] for h in ck["history"]]
    assert len(losses) == 150 and ck["step"] == 150
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.6 * first, (first, last)
    psnr = [h["psnr"] for h in ck["history"]]
    assert np.mean(psnr[-10:]) > np.mean(psnr[:10]) + 3


def test_resume_continues_the_same_run(images, tiny_cfg_file, tmp_path):
    straight = run(images, tiny_cfg_file, tmp_path / "a", 6)
    run(images, tiny_cfg_file, tmp_path / "b", 3)
    resumed = run(images, tiny_cfg_file, tmp_path / "b", 6, ["--resume", "auto"])
    assert resumed["step"] == 6
    for k, v in straight["model"].items():
        assert torch.allclose(v, resumed["model"][k], atol=1e-6), k
    assert [h["loss"] for h in straight["history"]] == pytest.approx([h["loss"] for h in resumed["history"]], rel=1e-5)


def test_freeze_keeps_those_parameters_and_trains_the_rest(images, tiny_cfg_file, tmp_path):
    a = run(images, tiny_cfg_file, tmp_path / "a", 3)
    torch.save(dict(config=a["config"], model=a["model"], step=0), tmp_path / "init.pt")
    b = run(images, tiny_cfg_file, tmp_path / "b", 3, ["--init", str(tmp_path / "init.pt"), "--freeze", "h_a."])
    frozen = [k for k in a["model"] if k.startswith("h_a.")]
    assert frozen
    for k in frozen:
        assert torch.equal(a["model"][k], b["model"][k]), k
    moved = [k for k in a["model"] if k.startswith("g_a.") and not torch.equal(a["model"][k], b["model"][k])]
    assert moved  # the rest trains
    with pytest.raises(SystemExit):
        run(images, tiny_cfg_file, tmp_path / "c", 1, ["--freeze", "no_such_part."])


def test_a_resume_may_change_freeze_and_adams_moments_follow_their_parameters(images, tiny_cfg_file, tmp_path):
    """A run made with --freeze h_a. resumed with --freeze h_a.,g_a. (and back): g_a stays as it was,
    every parameter trained in both keeps its own moments, the record says what was frozen."""
    run(images, tiny_cfg_file, tmp_path / "a", 3, ["--freeze", "h_a."])
    a = torch.load(tmp_path / "a" / "last.pt", map_location="cpu")
    assert a["record"]["freeze"] == ["h_a."]
    record_less = dict(a, record={k: v for k, v in a["record"].items() if k != "freeze"})  # as checkpoints made before it
    torch.save(record_less, tmp_path / "a" / "last.pt")
    with pytest.raises(SystemExit):  # the checkpoint's freeze is not recorded and --freeze-was is wrong
        run(images, tiny_cfg_file, tmp_path / "a", 4, ["--resume", "auto", "--freeze", "h_a.,g_a.", "--freeze-was", ""])
    b = run(images, tiny_cfg_file, tmp_path / "a", 4, ["--resume", "auto", "--freeze", "h_a.,g_a.", "--freeze-was", "h_a."])
    assert b["step"] == 4 and b["record"]["freeze"] == ["h_a.", "g_a."]
    for k in a["model"]:
        if k.startswith(("h_a.", "g_a.")):
            assert torch.equal(a["model"][k], b["model"][k]), k
    assert any(not torch.equal(a["model"][k], b["model"][k]) for k in a["model"] if k.startswith("g_s."))
    import train as t

    model = t.HiCodec(t.ModelConfig(**a["config"]))
    then, now = t.main_param_names(model, ("h_a.",)), t.main_param_names(model, ("h_a.", "g_a."))
    mapped = t.refrozen_optimizer(a["optimizer"], then, now)
    assert len(mapped["param_groups"][0]["params"]) == len(now) < len(then)
    assert mapped["param_groups"][1]["params"] == [len(now)]  # log_gain's group follows
    for i, n in enumerate(now):
        assert torch.equal(mapped["state"][i]["exp_avg"], a["optimizer"]["state"][then.index(n)]["exp_avg"]), n
    assert torch.equal(mapped["state"][len(now)]["exp_avg"], a["optimizer"]["state"][len(then)]["exp_avg"])
    # and back: g_a trained again, from fresh moments; the run records its own freeze from here
    c = run(images, tiny_cfg_file, tmp_path / "a", 5, ["--resume", "auto", "--freeze", "h_a."])
    assert c["step"] == 5 and c["record"]["freeze"] == ["h_a."]
    assert any(not torch.equal(b["model"][k], c["model"][k]) for k in b["model"] if k.startswith("g_a."))


def test_kodak_is_refused_as_training_data(tmp_path, tiny_cfg_file):
    d = tmp_path / "kodak"
    d.mkdir()
    Image.new("RGB", (64, 64)).save(d / "kodim01.png")
    with pytest.raises(ValueError, match="Kodak"):
        train.main(["--data", str(d), "--out", str(tmp_path / "o"), "--steps", "1", "--config", str(tiny_cfg_file)])


def test_data_parallel_run_with_two_processes(images, tiny_cfg_file, tmp_path):
    """--ddp as torchrun starts it (RANK/WORLD_SIZE/MASTER_* in the environment), on CPU (gloo).
    Debian's torch 1.13 `torchrun` itself fails under Python 3.11, so the test starts the ranks."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port))
        cmd = [sys.executable, str(Path(train.__file__)), "--ddp", "--data", str(images), "--out", str(tmp_path / "ddp"),
               "--steps", "4", "--crop", "64", "--batch", "2", "--log-every", "2", "--config", str(tiny_cfg_file),
               "--threads", "1"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "world 2" in logs[0]
    ck = torch.load(tmp_path / "ddp" / "last.pt", map_location="cpu")
    assert ck["step"] == 4 and ck["record"]["batch"] == 4  # global batch = 2 ranks × 2


def test_sigterm_checkpoints_and_exits_cleanly_and_cpu_minutes_are_counted(images, tiny_cfg_file, tmp_path):
    """The campaign's stop: SIGTERM ends the run after the current step with a checkpoint and exit 0;
    the checkpoint counts CPU-minutes (what equal-compute A/B runs compare); device crops with
    --scale-max > 1 (enlarged crops) come from an image folder."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sig"
    p = subprocess.Popen([sys.executable, str(Path(train.__file__)), "--pack", str(images), "--out", str(out), "--crop", "64",
                          "--batch", "2", "--log-every", "1", "--config", str(tiny_cfg_file), "--threads", "1",
                          "--scale-max", "1.5", "--cpu-limit", "100"], stdout=subprocess.PIPE, text=True)
    t0 = time.time()
    for line in p.stdout:
        if line.startswith("step      3"):
            break
        assert time.time() - t0 < 120, "no training step within 2 minutes"
    p.send_signal(signal.SIGTERM)
    rest = p.stdout.read()
    assert p.wait(timeout=60) == 0
    assert "done (signal 15)" in rest
    ck = torch.load(out / "last.pt", map_location="cpu")
    # process CPU time counts every thread of the process (the crop sampler's too), so over a few
    # short steps it may exceed wall time; it cannot exceed wall time × the machine's cores, and it
    # must not include the start-up (imports, packing), which takes longer than these steps
    import os
    assert ck["step"] >= 3 and 0 < ck["cpu_elapsed"] <= ck["elapsed"] * (os.cpu_count() or 1) + 0.05
    assert all("cpu_elapsed" in h for h in ck["history"])


def test_a_pause_is_not_counted_as_training_time(images, tiny_cfg_file, tmp_path):
    """`kill -STOP` / `-CONT` around a speed measurement: the paused steps count their CPU time, so
    the log's minutes (and --time-limit) leave the pause out. Three pauses of 3 s, wherever in the
    loop they land; the tiny steps take a small fraction of that (~0.1 s)."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "pause"
    p = subprocess.Popen([sys.executable, str(Path(train.__file__)), "--data", str(images), "--out", str(out), "--crop", "64",
                          "--batch", "8", "--log-every", "1", "--config", str(tiny_cfg_file), "--threads", "1",
                          "--ckpt-every", "100000", "--steps", "100000"], stdout=subprocess.PIPE, text=True)
    import threading

    watchdog = threading.Timer(240, p.kill)  # a hang fails the test (the reads below end) instead of blocking it
    watchdog.start()
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith("step      3"):
            break
    assert any(x.startswith("step      3") for x in lines), "no third training step"
    t_run = time.time()
    for _ in range(3):
        time.sleep(0.3)
        p.send_signal(signal.SIGSTOP)
        time.sleep(3)
        p.send_signal(signal.SIGCONT)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    lines += p.stdout.readlines()
    assert p.wait(timeout=60) == 0
    watchdog.cancel()
    wall = time.time() - t_run
    ck = torch.load(out / "last.pt", map_location="cpu")
    h = ck["history"]
    gaps = [b["elapsed"] - a["elapsed"] for a, b in zip(h, h[1:])]
    assert wall > 9 and ck["step"] > 3
    assert max(gaps) < 2.0, f"a step counted a pause: {max(gaps):.1f} s"  # counted, one would be ≥ 3 s
    assert h[-1]["elapsed"] - h[2]["elapsed"] < wall - 8
    cps = [float(x.split("crops/s")[0].split()[-1]) for x in lines if x.startswith("step ")]
    # no window's rate diluted by a pause: counted, a 3 s pause in a window of one step would leave
    # ≤ 1/30 of the rate; a busy machine's noise left ≥ 1/4
    assert min(cps[3:]) > 0.08 * float(np.median(cps)), cps


def test_channels_last_resume_converts_moments_and_ema_and_computes_the_same(images, tiny_cfg_file, tmp_path):
    from hicodec_train.model import HiCodec, ModelConfig

    first = run(images, tiny_cfg_file, tmp_path / "run", 4, ["--ema", "0.9"])
    # resumed with --channels-last: Adam's moments and the EMA follow the parameters into NHWC
    second = run(images, tiny_cfg_file, tmp_path / "run", 6, ["--ema", "0.9", "--channels-last"])
    assert second["step"] == 6 and second["record"]["channels_last"] is True
    cl = torch.channels_last
    names = [n for n, v in second["model"].items() if v.dim() == 4 and v.shape[2] > 1]  # k×k convolutions
    assert names and all(second["model"][n].is_contiguous(memory_format=cl) for n in names)
    assert all(second["ema"][n].is_contiguous(memory_format=cl) and not second["ema"][n].is_contiguous() for n in names)
    moments = [st["exp_avg"] for st in second["optimizer"]["state"].values() if st["exp_avg"].dim() == 4 and st["exp_avg"].shape[2] > 1]
    assert moments and all(m.is_contiguous(memory_format=cl) for m in moments)
    # a checkpoint without an EMA: the EMA starts from its weights (not from the initialisation)
    bare = dict(first, ema=None)
    torch.save(bare, tmp_path / "bare.pt")
    out = run(images, tiny_cfg_file, tmp_path / "bare", 5, ["--ema", "0.9", "--resume", str(tmp_path / "bare.pt")])
    d = 5 / 14  # the EMA's warm start at step 4: min(0.9, (1 + 4) / (10 + 4))
    n = names[0]
    assert torch.allclose(out["ema"][n], d * first["model"][n] + (1 - d) * out["model"][n], atol=1e-6)
    # the same weights compute the same in either format
    m = HiCodec(ModelConfig(**first["config"]))
    m.load_state_dict(first["model"])
    m.eval()
    x = torch.rand(2, 3, 64, 64)
    gain = torch.exp(m.log_gain[0]).unsqueeze(0).expand(2, -1)
    with torch.no_grad():
        a = m(x, gain, noise=False)
        b = m.to(memory_format=cl)(x.contiguous(memory_format=cl), gain, noise=False)
    assert torch.equal(a["q"], b["q"]) and torch.allclose(a["x_hat"], b["x_hat"], atol=1e-5)


def test_procs_starts_its_ranks_which_stop_together_and_die_with_rank_0(images, tiny_cfg_file, tmp_path):
    """--procs 2 (the campaign on 2 cores): this process starts rank 1 itself; `pkill -TERM -f`
    reaches both, rank 0 decides and both stop after the same step with one checkpoint that counts
    both ranks' crops; resumed, a rank-0 kill (-9) takes rank 1 with it (no orphan waiting on gloo)."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "procs"
    cmd = [sys.executable, str(Path(train.__file__)), "--procs", "2", "--pack", str(images), "--out", str(out), "--crop", "64",
           "--batch", "2", "--log-every", "1", "--config", str(tiny_cfg_file), "--threads", "1", "--cpu-limit", "100"]

    def ranks() -> list[int]:
        r = subprocess.run(["pgrep", "-f", "--", f"--out {out} "], capture_output=True, text=True)
        return [int(v) for v in r.stdout.split()]

    def start_and_wait_for_a_step():
        p = subprocess.Popen(cmd + ["--resume", "auto"], stdout=subprocess.PIPE, text=True)
        t0 = time.time()
        for line in p.stdout:
            if line.startswith("step "):
                break
            assert time.time() - t0 < 120, "no training step within 2 minutes"
        return p

    p = start_and_wait_for_a_step()
    assert len(ranks()) == 2
    subprocess.run(["pkill", "-TERM", "-f", "--", f"--out {out} "], check=True)
    rest = p.stdout.read()
    assert p.wait(timeout=120) == 0, rest
    assert "done (signal 15)" in rest and "exited with status" not in rest
    time.sleep(0.5)
    assert ranks() == []
    ck = torch.load(out / "last.pt", map_location="cpu")
    assert ck["step"] >= 1 and ck["crops_seen"] == ck["step"] * 4  # 2 ranks × batch 2
    assert ck["record"]["procs"] == 2 and ck["record"]["batch"] == 4 and "2 processes × 1 threads" in ck["record"]["hardware"]
    assert "Traceback" not in (out / "rank1.log").read_text()

    p = start_and_wait_for_a_step()  # resumed: rank 1 reseeds from rank 0's state
    assert (out / "train.log").read_text().count("# start: resumed from") == 1
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    t0 = time.time()
    while ranks() and time.time() - t0 < 30:
        time.sleep(0.2)
    assert ranks() == []
