"""Face-detector baseline throughput through PyTorch, on CUDA and on the CPU, and the start-up
split (import torch, CUDA init, model load) against inference.

    .venv/bin/python bench/gpu_throughput.py                 # cuda when present, and cpu
    .venv/bin/python bench/gpu_throughput.py --device cpu --images 512   # CPU only (tests)

Two ways of feeding a GPU, as DESIGN.md's performance facts describe:
  naive:  float32 batches of 512 copied from pageable host memory;
  pinned: uint8 images in pinned host memory, batches of 4096, normalised on the GPU.
The images are the lab's hidden test faces tiled to --images (uint8 [N,64,64,3]). The last
line printed is one JSON object with every figure (seconds, images per second).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "var" / "entries" / "lab2-debias" / "baseline.pt"
IMAGES = REPO / "var" / "hidden" / "lab2-debias-v1" / "inputs" / "images.npy"


def load_images(count: int) -> np.ndarray:
    """uint8 [count,64,64,3]: the hidden faces and non-faces, tiled (random if absent)."""
    if IMAGES.exists():
        base = (np.load(IMAGES, allow_pickle=False) * 255).round().astype(np.uint8)
    else:
        base = np.random.default_rng(0).integers(0, 256, (64, 64, 64, 3), dtype=np.uint8)
    reps = -(-count // len(base))
    return np.ascontiguousarray(np.tile(base, (reps, 1, 1, 1))[:count])


def _sync(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(
    device: str, images: np.ndarray, model_path: Path, repeats: int, import_s: float
) -> dict:
    import torch

    out: dict[str, float | str] = {"device": device, "images": len(images)}
    out["import_torch_s"] = import_s  # paid once per process, whichever device comes first
    torch.set_grad_enabled(False)
    if device == "cuda":
        t = time.perf_counter()
        torch.cuda.init()
        torch.empty(1, device="cuda")
        _sync(torch, device)
        out["cuda_init_s"] = time.perf_counter() - t
        out["gpu_name"] = torch.cuda.get_device_name(0)
    else:
        torch.set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    model = torch.jit.load(str(model_path), map_location=device).eval()
    _sync(torch, device)
    out["model_load_s"] = time.perf_counter() - t

    # PyTorch entries receive NCHW (the lab spec's layout for torch), as the harness feeds them.
    images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    floats = images.astype(np.float32) / 255.0

    def naive() -> None:
        # The straightforward harness: float32 batches from pageable memory, results back.
        for start in range(0, len(floats), 512):
            batch = torch.from_numpy(floats[start : start + 512]).to(device)
            model(batch).cpu()

    t = time.perf_counter()
    model(torch.from_numpy(floats[:512]).to(device)).cpu()  # first call: kernels, autotune
    out["first_batch_s"] = time.perf_counter() - t
    out["naive_images_per_s"] = len(images) / _best(naive, torch, device, repeats)

    if device == "cuda":
        pinned = torch.from_numpy(images).pin_memory()

        def fed() -> None:
            results = []
            for start in range(0, len(pinned), 4096):
                batch = pinned[start : start + 4096].to(device, non_blocking=True)
                results.append(model(batch.float().div_(255.0)))
            torch.cat(results).cpu()

        fed()
        out["pinned_images_per_s"] = len(images) / _best(fed, torch, device, repeats)
    out["startup_s"] = sum(
        float(out.get(k, 0.0)) for k in ("import_torch_s", "cuda_init_s", "model_load_s")
    )
    out["inference_s"] = len(images) / float(
        out.get("pinned_images_per_s", out["naive_images_per_s"])
    )
    return out


def _best(fn, torch, device: str, repeats: int) -> float:
    """Best of `repeats` timings: the figure least disturbed by other load on the machine."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(torch, device)
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", type=Path, default=MODEL)
    args = p.parse_args(argv)
    images = load_images(args.images)
    t0 = time.perf_counter()
    import torch

    import_s = time.perf_counter() - t0
    devices = ["cpu"]
    if args.device in ("auto", "cuda"):
        if torch.cuda.is_available():
            devices = ["cuda", "cpu"]
        elif args.device == "cuda":
            raise SystemExit("no CUDA device here")
    results = {}
    for device in devices:
        results[device] = measure(device, images, args.model, args.repeats, import_s)
        print(f"{device}: {json.dumps(results[device])}", flush=True)
    if "cuda" in results:
        cpu_rate = float(results["cpu"]["naive_images_per_s"])
        for how in ("naive", "pinned"):
            gpu_rate = float(results["cuda"][f"{how}_images_per_s"])
            results[f"speedup_{how}"] = gpu_rate / cpu_rate
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
