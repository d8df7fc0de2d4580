#!/usr/bin/python3
"""Python (PyTorch eager) peer of `npm run bench` for text models (BERT).

A long-lived worker, so that Python's and torch's start-up are never timed. It runs, in eager mode, the
same computation as the finetuner addon's text embedding model and pairs training step:

  - the backbone is scripts/export_torchscript/bert.py's BertModel (the definition the exporter scripts),
    built from the published config of the exported model's name and loaded with the exported model.pt's
    weights (torch.jit.load(...).state_dict(), strict), so both sides run the same weights;
  - pooling as native/module_builder.cc: mean of the token states over the attention mask, then L2
    normalisation;
  - training as native/pair_losses.cc: MultipleNegativesRankingLoss (cross-entropy over scale * cosine
    similarities, targets arange(N), rows of the same group masked out), Adam, train mode (dropout on).

Token batches come from Node (the bench tokenizes once and writes them): a raw little-endian int32 file
of 6 x rows x length values: query input_ids, attention_mask, token_type_ids, then the documents' three.
Encoding runs on the query batch, under torch.inference_mode() in eval mode.

Protocol (as torch_eager.py): one JSON object per line on stdin, one per line on stdout; the first line
is {"ready": true, ...}. Commands:

  {"cmd": "train", "steps": N}                -> {"seconds": S, "cpu": {...}, "loss": L}
  {"cmd": "encode", "reps": N, "rows": K}     -> {"seconds": S, "cpu": {...}, "dim": D,
                                                  "head": the first K rows of the embeddings (K default 0)}
  {"cmd": "info"} / {"cmd": "quit"}

"seconds" covers the work only (time.perf_counter); "cpu" is the process's user and system CPU seconds and
minor page faults over the same span. Errors answer {"error": "..."}.
"""

import argparse
import json
import os
from peer_protocol import serve  # the script's own folder is on sys.path
from rusage import cpu_since, usage  # the script's own folder is on sys.path
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="exported backbone directory (model.pt, finetuner.json)")
    p.add_argument("--tokens", required=True, help="int32 file of 6 x rows x length (see above)")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--length", type=int, required=True)
    p.add_argument("--threads", type=int, required=True, help="torch.set_num_threads")
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--scale", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build_backbone(torch, model_dir):
    """Our BERT definition, eager (not scripted), with the exported weights."""
    sys.path.insert(0, SCRIPTS)
    from export_torchscript.bert import BertConfig, BertModel  # noqa: E402
    from export_torchscript.text import VARIANTS  # noqa: E402

    with open(os.path.join(model_dir, "finetuner.json"), encoding="utf-8") as f:
        meta = json.load(f)
    variant = next((v for v in VARIANTS if v.name == meta["name"]), None)
    if variant is None or variant.family != "bert":
        raise SystemExit(f"bert_eager.py: {meta['name']!r} is not a BERT variant of the exporter")
    if meta.get("size") != "full":
        raise SystemExit(f"bert_eager.py: {model_dir} is a {meta.get('size')!r} export; the bench uses full size")
    config = BertConfig.from_hf(variant.config)
    model = BertModel(config)
    state = torch.jit.load(os.path.join(model_dir, meta["model"]), map_location="cpu").state_dict()
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
    backbone, meta = build_backbone(torch, args.model_dir)

    class TextEmbedding(nn.Module):
        """finetuner's text embedding model: mean pooling over the mask, no projection, normalize true."""

        def __init__(self):
            super().__init__()
            self.trunk = backbone

        def forward(self, input_ids, attention_mask, token_type_ids):
            x = self.trunk(input_ids, attention_mask, token_type_ids)
            m = attention_mask.unsqueeze(-1).to(x.dtype)
            x = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return x / torch.sqrt((x * x).sum(1, keepdim=True)).clamp(min=1e-12)

    model = TextEmbedding()

    n, length = args.rows, args.length
    with open(args.tokens, "rb") as f:
        data = bytearray(f.read())
    expected = 6 * n * length * 4
    if len(data) != expected:
        raise SystemExit(f"bert_eager.py: {args.tokens} has {len(data)} bytes, expected {expected}")
    # The addon widens int32 to int64 inside encode_tokens; here they are widened once, untimed.
    tensors = torch.frombuffer(data, dtype=torch.int32).view(6, n, length).long().clone()
    queries = tuple(tensors[0:3])
    documents = tuple(tensors[3:6])
    groups = torch.arange(n)

    def unit_rows(x):
        return x / x.norm(2, 1, True).clamp_min(1e-12)

    def mnrl(q, d):
        """native/pair_losses.cc multipleNegativesRankingLoss, without hard negatives."""
        scores = torch.matmul(unit_rows(q.float()), unit_rows(d.float()).t()) * args.scale
        same = groups.unsqueeze(1).eq(groups.unsqueeze(0))
        excluded = same.logical_and(torch.eye(n, dtype=torch.bool).logical_not())
        scores = scores.masked_fill(excluded, float("-inf"))
        return nn.functional.cross_entropy(scores, torch.arange(n))

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def train(steps):
        model.train()
        loss_value = float("nan")
        before = usage()
        start = time.perf_counter()
        for _ in range(steps):
            q = model(*queries)
            d = model(*documents)
            loss = mnrl(q, d)
            optimizer.zero_grad()
            loss_value = loss.item()
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "cpu": cpu_since(before), "loss": loss_value}

    def encode(reps, head_rows):
        model.eval()
        before = usage()
        start = time.perf_counter()
        with torch.inference_mode():
            for _ in range(reps):
                out = model(*queries)
                out = out.to(torch.float32).contiguous()
        seconds = time.perf_counter() - start
        answer = {"seconds": seconds, "cpu": cpu_since(before), "dim": int(out.shape[1])}
        if head_rows > 0:
            answer["head"] = out[:head_rows].tolist()
        return answer

    info = {
        "ready": True,
        "model": meta["name"],
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "interopThreads": torch.get_num_interop_threads(),
        "rows": n,
        "length": length,
        "parameters": sum(p.numel() for p in model.parameters()),
    }

    return serve(info, {
        "train": lambda r: train(int(r.get("steps", 1))),
        "encode": lambda r: encode(int(r.get("reps", 1)), int(r.get("rows", 0))),
    }, protocol)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
