"""The machine's matrix-multiply peak per precision, for the bench's share-of-peak column.

Prints one JSON line: GFLOP/s of a square GEMM (default 2048^3) in fp32 (torch.mm: OpenBLAS in Debian's
LibTorch), bf16 (torch.mm on bf16 tensors: oneDNN's AVX512-BF16 kernel where the CPU has one) and int8
(quantized::linear_dynamic on the oneDNN engine, the kernel precision 'int8' runs), with the given
threads, best of a few runs. The same LibTorch 1.13 as the addon.
"""
import argparse
import json
import time

import torch


def best_seconds(run, reps):
    run()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.size
    flops = 2.0 * n * n * n
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    peaks = {"size": n, "threads": args.threads, "torch": torch.__version__}
    with torch.no_grad():
        peaks["fp32"] = flops / best_seconds(lambda: torch.mm(a, b), args.reps) / 1e9
        a16, b16 = a.bfloat16(), b.bfloat16()
        peaks["bf16"] = flops / best_seconds(lambda: torch.mm(a16, b16), args.reps) / 1e9
        engines = torch.backends.quantized.supported_engines
        if "onednn" in engines:
            torch.backends.quantized.engine = "onednn"
            scales = (b.abs().amax(1).clamp_min(1e-8) / 127).double()
            weight = torch.quantize_per_channel(b, scales, torch.zeros(n, dtype=torch.long), 0, torch.qint8)
            packed = torch.ops.quantized.linear_prepack(weight, None)
            peaks["int8"] = flops / best_seconds(lambda: torch.ops.quantized.linear_dynamic(a, packed, True), args.reps) / 1e9
    print(json.dumps(peaks))


if __name__ == "__main__":
    main()
