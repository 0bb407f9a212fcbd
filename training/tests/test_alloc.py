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


def test_train_py_sets_them_before_numpy_and_torch_load():
    """train.py run as a program: OpenBLAS (loaded by numpy and torch) has one thread and ATen's
    kernel level follows the CPU. Both are read once, when the library loads or at the first
    operation, so this fails if train.py imports numpy or torch before runtime_env. Imported as a
    module (as tests do), it leaves its process alone."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "ATEN_CPU_CAPABILITY", "HICODEC_DEFAULT_RUNTIME")}
    # as a program: the settings are made before numpy and torch load
    code = (f"import runpy, sys; sys.path.insert(0, {str(TRAINING)!r}); sys.argv = ['train.py', '--help']\n"
            "try:\n"
            f"    runpy.run_path({str(TRAINING / 'train.py')!r}, run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            "from hicodec_train.alloc import blas_threads\n"
            "import torch\n"
            "cap = [l for l in torch.__config__.show().splitlines() if 'CPU capability' in l][0]\n"
            "print('blas', blas_threads(), cap)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("blas 1 ") or line.startswith("blas None "), line  # None: a torch without OpenBLAS
    avx512 = "ATEN_CPU_CAPABILITY" in runtime_env({})
    assert line.endswith("AVX512") == avx512, line
    # imported as a module: nothing set
    code = f"import os, sys; sys.path.insert(0, {str(TRAINING)!r}); import train; print(train.RUNTIME, 'OPENBLAS_NUM_THREADS' in os.environ)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0 and out.stdout.split() == ["{}", "False"], (out.stdout, out.stderr)
