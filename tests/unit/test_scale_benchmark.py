"""The scale benchmark's memory sampler: the resident memory of a process tree."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

from usersegments.config import PROJECT_DIR

SPEC = importlib.util.spec_from_file_location(
    "scale_pipeline", PROJECT_DIR / "bench" / "scale_pipeline.py"
)
scale_pipeline = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = scale_pipeline  # its dataclasses look their module up there
SPEC.loader.exec_module(scale_pipeline)


def test_the_sampler_counts_the_memory_of_grandchildren():
    """A child that starts a grandchild holding 300 MB: the tree's peak includes it."""
    grandchild = "b = bytearray(300 * 2**20); import time; time.sleep(3)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    process = subprocess.Popen([sys.executable, "-c", child])
    sampler = scale_pipeline.MemorySampler(process.pid, interval=0.1)
    started = time.time()
    sampler.start()
    process.wait()
    samples = sampler.stop()
    peak = sampler.peak(started, time.time())
    assert 300 * 2**20 < peak < 500 * 2**20
    assert len(samples) > 10 and sampler.peak(0, started - 1) == 0
