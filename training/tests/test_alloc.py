"""The runtime settings training starts with (hicodec_train/alloc.py)."""
import subprocess
import sys
from pathlib import Path

from hicodec_train.alloc import runtime_env

TRAINING = Path(__file__).resolve().parents[1]


def _cpuinfo(tmp_path, flags):
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx2 {flags}\n")
    return str(p)


def test_runtime_env_sets_what_is_unset_and_avx512_only_where_the_cpu_has_it(tmp_path):
    full = _cpuinfo(tmp_path, "avx512f avx512bw avx512vl avx512dq avx512cd")
    env = {}
    assert runtime_env(env, full) == {"OPENBLAS_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx512"} and env["ATEN_CPU_CAPABILITY"] == "avx512"
    # a CPU without all of AVX-512's parts: forcing ATen's AVX-512 kernels would die on an illegal instruction
    env = {}
    assert runtime_env(env, _cpuinfo(tmp_path, "avx512f avx512cd")) == {"OPENBLAS_NUM_THREADS": "1"} and "ATEN_CPU_CAPABILITY" not in env
    env = {"OPENBLAS_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default"}  # the user's own settings stay
    assert runtime_env(env, full) == {} and env == {"OPENBLAS_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default"}
    env = {"HICODEC_DEFAULT_RUNTIME": "1"}
    assert runtime_env(env, full) == {} and env == {"HICODEC_DEFAULT_RUNTIME": "1"}
    assert runtime_env({}, str(tmp_path / "missing")) == {"OPENBLAS_NUM_THREADS": "1"}


def test_train_py_sets_them_before_torch_loads():
    """train.py imported fresh: ATen's kernel level follows the setting (it is read at the first
    operation, so this fails if torch ran one before runtime_env)."""
    code = ("import os, sys; sys.argv = ['x']; os.environ.pop('ATEN_CPU_CAPABILITY', None); "
            "os.environ['OPENBLAS_NUM_THREADS'] = '1'; os.environ.pop('HICODEC_DEFAULT_RUNTIME', None); "
            f"sys.path.insert(0, {str(TRAINING)!r}); import train; print(train.RUNTIME, train.runtime_summary())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    avx512 = "ATEN_CPU_CAPABILITY" in out.stdout
    assert ("ATen AVX512" in out.stdout) == avx512, out.stdout
    assert "OpenBLAS threads 1" in out.stdout
