"""GPU throughput: measured on CUDA when this machine has it; else the CPU half only.

bench/gpu_throughput.py runs in its own process, so `import torch` is timed from cold and the
driver never loads torch.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .report import Report
from .stack import REPO

COMMAND = ".venv/bin/python bench/gpu_throughput.py --device cuda --images 100000"


def run(report: Report, quick: bool) -> None:
    print("\n== GPU throughput (face-detector baseline through PyTorch)", flush=True)
    images = "512" if quick else "10000"
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_throughput.py"), "--images", images],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gpu_throughput.py failed: {done.stderr[-800:]}")
    results = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = results["cpu"]
    report.add("gpu.cpu.import_torch_s", cpu["import_torch_s"], "s")
    report.add("gpu.cpu.model_load_s", cpu["model_load_s"], "s")
    report.add("gpu.cpu.images_per_s", cpu["naive_images_per_s"], "images/s")
    report.add("gpu.cpu.inference_s", cpu["inference_s"], "s")
    cuda = results.get("cuda")
    if cuda is None:
        why = f"not measured: no GPU machine lent to this task (run: {COMMAND})"
        for key in ("gpu.cuda.cuda_init_s", "gpu.cuda.pinned_images_per_s", "gpu.speedup_pinned"):
            report.missing(key, why)
        return
    report.add("gpu.cuda.import_torch_s", cuda["import_torch_s"], "s")
    report.add("gpu.cuda.cuda_init_s", cuda["cuda_init_s"], "s")
    report.add("gpu.cuda.model_load_s", cuda["model_load_s"], "s")
    report.add("gpu.cuda.naive_images_per_s", cuda["naive_images_per_s"], "images/s")
    report.add("gpu.cuda.pinned_images_per_s", cuda["pinned_images_per_s"], "images/s")
    report.add("gpu.speedup_naive", results["speedup_naive"], "x")
    report.add("gpu.speedup_pinned", results["speedup_pinned"], "x")
