"""PyTorch compute under libvxpu's compute limit (run by tests/gpu/run.sh).

Two modes, each printing one line of key=value figures:

  throughput SECONDS    fp16 matmuls (8192 x 8192, about 1-2 ms each on a
                        current data-centre GPU) back to back for SECONDS
                        after a one-second warm-up; prints iters_per_s.
                        Under VXPU_CORE_LIMIT=P its ratio to an unlimited
                        run should read about P / 100.
  latency SECONDS PERIOD_MS
                        one matmul every PERIOD_MS, each waited for; prints
                        the p50 / p99 / max latency from the call to the
                        result (ms). The high-priority side of the priority
                        pair.

The device is whatever CUDA_VISIBLE_DEVICES leaves as cuda:0.
"""
import sys
import time

import torch

N = 8192


def operands():
    a = torch.randn(N, N, device="cuda", dtype=torch.float16)
    b = torch.randn(N, N, device="cuda", dtype=torch.float16)
    return a, b


def throughput(seconds):
    a, b = operands()
    warm_end = time.monotonic() + 1.0
    while time.monotonic() < warm_end:
        torch.matmul(a, b)
        torch.cuda.synchronize()
    iters = 0
    start = time.monotonic()
    stop = start + seconds
    while time.monotonic() < stop:
        for _ in range(4):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        iters += 4
    elapsed = time.monotonic() - start
    print(f"iters={iters} seconds={elapsed:.3f} iters_per_s={iters / elapsed:.2f}")


def latency(seconds, period_ms):
    a, b = operands()
    for _ in range(10):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    samples = []
    period = period_ms / 1000.0
    next_at = time.monotonic()
    stop = next_at + seconds
    while True:
        now = time.monotonic()
        if now >= stop:
            break
        if now < next_at:
            time.sleep(next_at - now)
        t0 = time.monotonic()
        torch.matmul(a, b)
        torch.cuda.synchronize()
        samples.append((time.monotonic() - t0) * 1000.0)
        next_at += period
    samples.sort()

    def pct(p):
        return samples[min(len(samples) - 1, int(p * len(samples)))]

    print(f"samples={len(samples)} p50_ms={pct(0.50):.3f} p99_ms={pct(0.99):.3f} "
          f"max_ms={samples[-1]:.3f}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "throughput":
        throughput(float(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "latency":
        latency(float(sys.argv[2]), float(sys.argv[3]))
    else:
        print("usage: torch_compute.py throughput SECONDS | latency SECONDS PERIOD_MS",
              file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
