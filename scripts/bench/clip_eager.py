#!/usr/bin/python3
"""Python (PyTorch eager) peer of `npm run bench` for CLIP.

A long-lived worker, so that Python's and torch's start-up are never timed. It runs, in eager mode, the
same computation as the finetuner addon's CLIP embedding model and contrastive training step:

  - the model is scripts/export_torchscript/clip_configs.py's build_from_config for the variant the
    export recorded (finetuner.json clip.variant, with its clip.quickGelu and text.vocabSize), the
    definition the exporter scripts, loaded with the exported model.pt's weights
    (torch.jit.load(...).state_dict(), strict), so both sides run the same weights;
  - images as native/module_builder.cc encode_pixels: uint8 N x S x S x 3 -> permute, /255, CLIP's mean/std
    (finetuner.json preprocessing) -> encode_image -> L2 normalisation; texts: encode_text(input_ids,
    attention_mask) -> L2 normalisation;
  - training as native/embedding_core.cc and native/clip_loss.cc: text tower then image tower in train
    mode, logits = exp(logit_scale) * images @ texts.T (rows of the same group masked out, none here),
    the mean of the cross-entropies of logits and logits.T against arange(N), Adam, then logit_scale
    clamped to [0, ln 100].

Inputs come from Node, written once: --tokens, a raw little-endian int32 file of 2 x rows x length values
(input_ids, then attention_mask: what the addon's tokenizer gives for the batch), and --pixels, raw uint8
rows x size x size x 3 (the batch model.loadImages prepared). Encoding runs under torch.inference_mode()
in eval mode.

Protocol (as torch_eager.py): one JSON object per line on stdin, one per line on stdout; the first line
is {"ready": true, ...}. Commands:

  {"cmd": "train", "steps": N}                    -> {"seconds": S, "cpu": {...}, "loss": L, "logitScale": X}
  {"cmd": "encode_image", "reps": N, "rows": K}   -> {"seconds": S, "cpu": {...}, "dim": D,
  {"cmd": "encode_text", "reps": N, "rows": K}        "head": the first K rows of the embeddings (K default 0)}
  {"cmd": "info"} / {"cmd": "quit"}

"seconds" covers the work only (time.perf_counter); "cpu" is the process's user and system CPU seconds and
minor page faults over the same span. Errors answer {"error": "..."}.
"""

import argparse
import json
import math
import os
from peer_protocol import serve  # the script's own folder is on sys.path
from rusage import cpu_since, usage  # the script's own folder is on sys.path
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
MAX_LOGIT_SCALE = math.log(100.0)  # native/clip_loss.h kMaxLogitScale


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="exported CLIP directory (model.pt, finetuner.json)")
    p.add_argument("--tokens", required=True, help="int32 file of 2 x rows x length (see above)")
    p.add_argument("--pixels", required=True, help="uint8 file of rows x size x size x 3 (NHWC RGB)")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--length", type=int, required=True, help="tokens per text (padded)")
    p.add_argument("--size", type=int, required=True, help="image side in pixels")
    p.add_argument("--threads", type=int, required=True, help="torch.set_num_threads")
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build_clip(torch, model_dir):
    """The exporter's CLIP definition, eager (not scripted), with the exported weights."""
    sys.path.insert(0, SCRIPTS)
    from dataclasses import replace  # noqa: E402
    from export_torchscript import clip_configs  # noqa: E402

    with open(os.path.join(model_dir, "finetuner.json"), encoding="utf-8") as f:
        meta = json.load(f)
    clip = meta.get("clip") or {}
    if meta.get("family") != "clip":
        raise SystemExit(f"clip_eager.py: {model_dir} is a {meta.get('family')!r} export; the bench runs CLIP "
                         "models with OpenAI's text tower (family 'clip')")
    variant = clip["variant"]
    # clip.variant carries the exported activation ("-quickgelu"), which not every architecture has a
    # config of its own for: take the base architecture and set quick_gelu as the export recorded.
    base = variant if variant in clip_configs.CLIP_VARIANTS else variant[: -len("-quickgelu")]
    c = clip_configs.config(base, meta.get("size", "full"))
    c = replace(c, quick_gelu=bool(clip["quickGelu"]), text=replace(c.text, vocab_size=meta["text"]["vocabSize"]))
    model = clip_configs.build_from_config(c)
    state = torch.jit.load(os.path.join(model_dir, meta["model"]), map_location="cpu").state_dict()
    # TorchScript's state_dict also lists non-persistent buffers (the text tower's causal attn_mask),
    # which the eager module rebuilds itself: check that they agree, then load the rest strictly.
    buffers = dict(model.named_buffers())
    for name in set(state) - set(model.state_dict()):
        if name in buffers and torch.equal(state[name], buffers[name]):
            del state[name]
    model.load_state_dict(state, strict=True)
    return model, meta


def main(argv):
    args = parse_args(argv)
    protocol = sys.stdout
    sys.stdout = sys.stderr

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    nn = torch.nn
    clip, meta = build_clip(torch, args.model_dir)
    prep = meta["preprocessing"]

    class ClipEmbedding(nn.Module):
        """native/module_builder.cc buildClipModule: both towers, L2-normalised."""

        def __init__(self):
            super().__init__()
            self.clip = clip
            self.register_buffer("pixel_mean", torch.tensor(prep["mean"], dtype=torch.float32).view(1, 3, 1, 1))
            self.register_buffer("pixel_std", torch.tensor(prep["std"], dtype=torch.float32).view(1, 3, 1, 1))

        @staticmethod
        def normalized(x):
            return x / torch.sqrt((x * x).sum(1, keepdim=True)).clamp(min=1e-12)

        def encode_pixels(self, pixels):
            x = pixels.permute(0, 3, 1, 2).float().div(255.0)
            x = (x - self.pixel_mean) / self.pixel_std
            return self.normalized(self.clip.encode_image(x.contiguous()))

        def encode_tokens(self, input_ids, attention_mask):
            return self.normalized(self.clip.encode_text(input_ids, attention_mask))

    model = ClipEmbedding()

    n, length, size = args.rows, args.length, args.size
    with open(args.tokens, "rb") as f:
        data = bytearray(f.read())
    if len(data) != 2 * n * length * 4:
        raise SystemExit(f"clip_eager.py: {args.tokens} has {len(data)} bytes, expected {2 * n * length * 4}")
    # The addon widens int32 to int64 inside encode_tokens; here they are widened once, untimed.
    input_ids, attention_mask = torch.frombuffer(data, dtype=torch.int32).view(2, n, length).long().clone()
    with open(args.pixels, "rb") as f:
        data = bytearray(f.read())
    if len(data) != n * size * size * 3:
        raise SystemExit(f"clip_eager.py: {args.pixels} has {len(data)} bytes, expected {n * size * size * 3}")
    pixels = torch.frombuffer(data, dtype=torch.uint8).view(n, size, size, 3).clone()
    groups = torch.arange(n)

    def contrastive_loss(texts, images):
        """native/clip_loss.cc clipContrastiveLoss."""
        logits = clip.logit_scale.exp() * torch.matmul(images.float(), texts.float().t())
        same = groups.unsqueeze(1).eq(groups.unsqueeze(0))
        excluded = same.logical_and(torch.eye(n, dtype=torch.bool).logical_not())
        logits = logits.masked_fill(excluded, float("-inf"))
        targets = torch.arange(n)
        return (nn.functional.cross_entropy(logits, targets) + nn.functional.cross_entropy(logits.t(), targets)) / 2

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def train(steps):
        model.train()
        loss_value = float("nan")
        before = usage()
        start = time.perf_counter()
        for _ in range(steps):
            texts = model.encode_tokens(input_ids, attention_mask)
            images = model.encode_pixels(pixels)
            loss = contrastive_loss(texts, images)
            optimizer.zero_grad()
            loss_value = loss.item()
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                clip.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "cpu": cpu_since(before), "loss": loss_value,
                "logitScale": float(clip.logit_scale.detach())}

    def encode(tower, reps, head_rows):
        model.eval()
        before = usage()
        start = time.perf_counter()
        with torch.inference_mode():
            for _ in range(reps):
                out = model.encode_pixels(pixels) if tower == "image" else model.encode_tokens(input_ids, attention_mask)
                out = out.to(torch.float32).contiguous()
        seconds = time.perf_counter() - start
        answer = {"seconds": seconds, "cpu": cpu_since(before), "dim": int(out.shape[1])}
        if head_rows > 0:
            answer["head"] = out[:head_rows].tolist()
        return answer

    info = {
        "ready": True,
        "model": meta["name"],
        "variant": meta["clip"]["variant"],
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "interopThreads": torch.get_num_interop_threads(),
        "rows": n,
        "length": length,
        "size": size,
        "parameters": sum(p.numel() for p in model.parameters()),
    }

    return serve(info, {
        "train": lambda r: train(int(r.get("steps", 1))),
        "encode_image": lambda r: encode("image", int(r.get("reps", 1)), int(r.get("rows", 0))),
        "encode_text": lambda r: encode("text", int(r.get("reps", 1)), int(r.get("rows", 0))),
    }, protocol)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
