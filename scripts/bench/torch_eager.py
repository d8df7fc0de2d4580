#!/usr/bin/python3
"""Python (PyTorch eager) peer of `npm run bench`.

A long-lived worker, so that Python's and torch's start-up are never timed. It builds, in eager mode,
the same computation as the finetuner addon's embedding model (native/module_builder.cc) and training
step (native/embedding_core.cc, native/triplet_loss.cc):

  uint8 N x H x W x 3 -> permute, /255, ImageNet mean/std -> trunk (children up to layer4)
  -> average pool -> L2 normalise; batch-hard triplet loss on clamped-sqrt euclidean distances; Adam.

Protocol: one JSON object per line on stdin, one JSON object per line on stdout (anything else the
worker prints goes to stderr). On start it writes {"ready": true, ...}. Commands:

  {"cmd": "train", "steps": N}   -> {"seconds": S, "loss": L, "triplets": T}
  {"cmd": "encode", "reps": N}   -> {"seconds": S}
  {"cmd": "info"}                -> the ready line again
  {"cmd": "quit"}                -> exits

"seconds" covers the work only (time.perf_counter around the loop); "cpu" is the process's CPU time
(user, system seconds) and minor page faults over the same span. Errors answer {"error": "..."}.
"""

import argparse
import json
from peer_protocol import serve  # the script's own folder is on sys.path
from rusage import cpu_since, usage  # the script's own folder is on sys.path
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resnet50", help="torchvision model (default resnet50)")
    p.add_argument("--threads", type=int, required=True, help="torch.set_num_threads")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=224, help="input side in pixels")
    p.add_argument("--items-per-class", type=int, default=4)
    p.add_argument("--pixels", help="raw uint8 file of batch x size x size x 3 bytes (NHWC RGB); "
                                    "default: seeded random pixels")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--margin", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# The trunks finetuner exports for these models (scripts/export_torchscript registry), in order.
TRUNKS = {
    "resnet": ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"],
}
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def build_model(torch, torchvision, name):
    nn = torch.nn
    if not name.startswith("resnet"):
        raise SystemExit(f"torch_eager.py: model {name!r} is not supported (resnet* only)")
    backbone = getattr(torchvision.models, name)(weights=None)
    trunk = nn.Sequential(*[getattr(backbone, child) for child in TRUNKS["resnet"]])

    class Embedding(nn.Module):
        """finetuner's EmbeddingModel.encode_pixels: avg pooling, no projection, normalize true."""

        def __init__(self):
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

    return Embedding()


def batch_hard_triplet_loss(torch, embeddings, labels, margin):
    """Same formula as native/triplet_loss.cc (Miner::BatchHard)."""
    x = embeddings.float()
    squared_norms = (x * x).sum(1)
    squared = squared_norms.unsqueeze(1) + squared_norms.unsqueeze(0) - 2.0 * torch.matmul(x, x.t())
    distances = squared.clamp_min(1e-12).sqrt()
    n = x.shape[0]
    same = labels.unsqueeze(1).eq(labels.unsqueeze(0))
    eye = torch.eye(n, dtype=torch.bool)
    positive = same.logical_and(eye.logical_not())
    negative = same.logical_not()
    inf = float("inf")
    hardest_positive = distances.masked_fill(positive.logical_not(), -inf).amax(1)
    hardest_negative = distances.masked_fill(negative.logical_not(), inf).amin(1)
    valid = positive.any(1).logical_and(negative.any(1))
    violations = torch.relu(hardest_positive - hardest_negative + margin).masked_select(valid)
    triplets = violations.numel()
    loss = violations.mean() if triplets > 0 else embeddings.sum() * 0.0
    return loss, triplets


def main(argv):
    args = parse_args(argv)
    # stdout carries the protocol only.
    protocol = sys.stdout
    sys.stdout = sys.stderr

    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = build_model(torch, torchvision, args.model)
    shape = (args.batch, args.size, args.size, 3)
    if args.pixels:
        with open(args.pixels, "rb") as f:
            data = bytearray(f.read())
        expected = args.batch * args.size * args.size * 3
        if len(data) != expected:
            raise SystemExit(f"torch_eager.py: {args.pixels} has {len(data)} bytes, expected {expected}")
        pixels = torch.frombuffer(data, dtype=torch.uint8).view(shape).clone()
    else:
        pixels = torch.randint(0, 256, shape, dtype=torch.uint8)
    if args.batch % args.items_per_class:
        raise SystemExit("torch_eager.py: --batch must be a multiple of --items-per-class")
    labels = torch.arange(args.batch // args.items_per_class).repeat_interleave(args.items_per_class)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def train(steps):
        model.train()
        loss_value, triplets = float("nan"), 0
        before = usage()
        start = time.perf_counter()
        for _ in range(steps):
            embeddings = model(pixels)
            loss, triplets = batch_hard_triplet_loss(torch, embeddings, labels, args.margin)
            optimizer.zero_grad()
            loss_value = loss.item()
            if triplets > 0:
                loss.backward()
                optimizer.step()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "cpu": cpu_since(before), "loss": loss_value, "triplets": triplets}

    def encode(reps):
        model.eval()
        before = usage()
        start = time.perf_counter()
        with torch.inference_mode():
            for _ in range(reps):
                out = model(pixels)
                out = out.to(torch.float32).contiguous()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "cpu": cpu_since(before), "dim": int(out.shape[1])}

    info = {
        "ready": True,
        "model": args.model,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "interopThreads": torch.get_num_interop_threads(),
        "batch": args.batch,
        "size": args.size,
    }

    return serve(info, {
        "train": lambda r: train(int(r.get("steps", 1))),
        "encode": lambda r: encode(int(r.get("reps", 1))),
    }, protocol)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
