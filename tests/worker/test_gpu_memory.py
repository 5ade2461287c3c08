"""The GPU memory cap of a submission's worker (GRADERS_GPU_MEMORY_FRACTION, set on a cluster's GPU
workers): on CUDA only."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

PROGRAM = """
import os, torch
from graders.worker.serve import _cap_gpu_memory
os.environ["GRADERS_GPU_MEMORY_FRACTION"] = "0.25"
_cap_gpu_memory(torch)
total = torch.cuda.get_device_properties(0).total_memory
try:
    torch.empty(int(total * 0.5), dtype=torch.uint8, device="cuda")
except torch.cuda.OutOfMemoryError:
    print("capped")
else:
    print("not capped")
"""


def test_a_worker_cannot_take_more_gpu_memory_than_its_share() -> None:
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "capped", out.stderr
