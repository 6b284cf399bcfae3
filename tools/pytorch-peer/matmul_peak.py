"""PyTorch's float32 matmul rate on this machine, for the ceiling comparison in docs/performance.md: one
[512, 2048] x [2048, 5632] product (TinyLlama's gate/up projection at 512 tokens), best of five, on 1 and 2 threads.
Prints one JSON line. Optional: the project never needs Python.

    python matmul_peak.py
"""

import json
import time

import torch


def gflops(threads: int) -> float:
    torch.set_num_threads(threads)
    a = torch.randn(512, 2048)
    b = torch.randn(2048, 5632)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 512 * 2048 * 5632 / best / 1e9


if __name__ == "__main__":
    print(json.dumps({"torch": torch.__version__, "gflops_1_thread": round(gflops(1), 1),
                      "gflops_2_threads": round(gflops(2), 1)}))
