"""Keeps glibc from handing big tensors back to the kernel after every use.

glibc serves allocations above its mmap threshold (at most 32 MiB) with a fresh mmap and returns
them with munmap, so every large activation of a training step costs page faults and zeroing in
the kernel. At 256² crops most activations of g_a are above it (4 × 128 × 128² floats = 32 MiB):
measured here (torch 1.13, 2 threads), forward + backward of the v4 g_a on 4 crops of 256² took
2.09 s with the default allocator and 0.26 s with mmap off and trimming off; 8 × 128² went from
0.39 s to 0.17 s. `mallopt` applies to the running process, so calling it first thing is enough.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def tune_allocator() -> str:
    """mmap off and trimming off for glibc's malloc (Linux). Returns what was done, for the log.
    HICODEC_DEFAULT_MALLOC=1 leaves the allocator alone (for A/B measurements)."""
    if os.environ.get("HICODEC_DEFAULT_MALLOC") == "1":
        return "default allocator (HICODEC_DEFAULT_MALLOC=1)"
    if not sys.platform.startswith("linux"):
        return "default allocator (not Linux)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    except (OSError, AttributeError):
        return "default allocator (no glibc mallopt)"
    return "glibc malloc: mmap off, trim off" if ok else "default allocator (mallopt refused)"


AVX512_FLAGS = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}  # what ATen's AVX-512 kernels need


def runtime_env(env=None, cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The CPU runtime settings training runs with, as environment variables that must be set
    before torch loads (ATen reads ATEN_CPU_CAPABILITY at its first operation, OpenBLAS its thread
    count when it loads). Sets them in `env` (default os.environ) where unset; returns those set.

    - OPENBLAS_NUM_THREADS=1: Debian's torch links OpenBLAS with its own pthreads beside libgomp's
      OpenMP pool, so a linear layer's GEMM ran a third thread against OpenMP's two on 2 cores;
    - ATEN_CPU_CAPABILITY=avx512 where the CPU has AVX-512 (this torch defaults to AVX2 for ATen's
      own kernels; oneDNN's convolutions already use AVX-512, so no clock is lost to it).

    Together ×1.02–1.04 a step of the campaign (bench/train_env.py, 2026-12-03: faster in 50 of
    80 interleaved rounds). HICODEC_DEFAULT_RUNTIME=1 leaves the defaults (for A/B measurements)."""
    env = os.environ if env is None else env
    if env.get("HICODEC_DEFAULT_RUNTIME") == "1":
        return {}
    want = {"OPENBLAS_NUM_THREADS": "1"}
    try:
        with open(cpuinfo) as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        flags = set()
    if AVX512_FLAGS <= flags:
        want["ATEN_CPU_CAPABILITY"] = "avx512"
    done = {k: v for k, v in want.items() if k not in env}
    env.update(done)
    return done


def blas_threads() -> int | None:
    """The thread count of the OpenBLAS this process has loaded (what OPENBLAS_NUM_THREADS gave it
    when it loaded), or None where there is no OpenBLAS."""
    try:
        with open("/proc/self/maps") as f:  # the loaded one: opening another would start its own threads
            path = next((ln.split()[-1] for ln in f if "libopenblas" in ln and ln.split()[-1].startswith("/")), None)
        return None if path is None else int(ctypes.CDLL(path).openblas_get_num_threads())
    except (OSError, AttributeError, ValueError):
        return None
