#!/usr/bin/python3
"""Diagnostic for `npm run bench`: in ONE Python process, alternately times variants of the resnet50
embedding encode (and optionally the training step), to tell apart what makes two sides differ:

  jit           the exported TorchScript trunk (model.pt), wrapped and scripted as the addon does
  eager-same    torchvision eager model carrying the exported model's weights
  eager-random  torchvision eager model with its own random init (what torch_eager.py uses)

usage: /usr/bin/python3 scripts/bench/jit_vs_eager.py MODEL_DIR [--threads N] [--rounds R] [--train]
"""

import argparse
import statistics
import sys
import time

import torch
import torchvision

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_eager import MEAN, STD, TRUNKS, batch_hard_triplet_loss  # noqa: E402


class Embedding(torch.nn.Module):
    def __init__(self, trunk):
        super().__init__()
        self.trunk = trunk
        self.register_buffer("pixel_mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, pixels):
        x = pixels.permute(0, 3, 1, 2).float().div(255.0)
        x = (x - self.pixel_mean) / self.pixel_std
        x = self.trunk(x.contiguous())
        x = x.mean([2, 3])
        return x / torch.sqrt((x * x).sum(1, keepdim=True)).clamp(min=1e-12)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--train", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads {torch.get_num_threads()}", flush=True)

    backbone = torch.jit.load(f"{args.model_dir}/model.pt")
    names = TRUNKS["resnet"]
    jit = torch.jit.script(Embedding(torch.nn.Sequential(*[getattr(backbone, n) for n in names])))

    same = torchvision.models.resnet50(weights=None)
    same.load_state_dict({k: v.clone() for k, v in backbone.state_dict().items()})
    eager_same = Embedding(torch.nn.Sequential(*[getattr(same, n) for n in names]))
    rnd = torchvision.models.resnet50(weights=None)
    eager_random = Embedding(torch.nn.Sequential(*[getattr(rnd, n) for n in names]))
    variants = {"jit": jit, "eager-same": eager_same, "eager-random": eager_random}

    pixels = torch.randint(0, 256, (args.batch, 224, 224, 3), dtype=torch.uint8)
    labels = torch.arange(args.batch // 4).repeat_interleave(4)
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-4) for k, m in variants.items()}

    def encode(model):
        model.eval()
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(pixels)
        return time.perf_counter() - t0

    def train(name, model):
        model.train()
        t0 = time.perf_counter()
        loss, n = batch_hard_triplet_loss(torch, model(pixels), labels, 0.2)
        optimizers[name].zero_grad()
        loss.item()
        if n:
            loss.backward()
            optimizers[name].step()
        return time.perf_counter() - t0

    jobs = [("encode", lambda name, m: encode(m))]
    if args.train:
        jobs.append(("train", train))
    for job, fn in jobs:
        for name, model in variants.items():
            for _ in range(3 if name == "jit" else 1):
                print(f"warm-up {job} {name}: {fn(name, model):.2f} s", flush=True)
        times = {k: [] for k in variants}
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                times[name].append(fn(name, variants[name]))
            print(f"{job} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
        base = times["eager-random"]
        for name, t in times.items():
            ratios = [b / x for x, b in zip(t, base)]
            print(f"{job} {name}: median {statistics.median(t):.2f} s, speed vs eager-random "
                  f"(median of ratios) {statistics.median(ratios):.2f}x", flush=True)


if __name__ == "__main__":
    main()
