"""Converts a saved finetuner model (model.pt, TorchScript written by the addon) to ONNX.

Run by lib/onnxExport.ts as ``python3 scripts/export_torchscript/onnx_export.py --model-pt FILE
[--image OUT.onnx] [--text OUT.onnx]``; it writes only the files it is given (the caller stages them and
writes the preprocessing JSON and tokenizer). The ONNX exporter exists only in Python (torch.onnx's symbolic
functions), hence this step.

The saved model's methods are the whole embedding model (trunk, pooling, projection, normalisation), so
each graph is one of them behind a thin scripted wrapper, exported through torch.onnx's scripting path
(tracing a torch.jit.load-ed module is refused by the tracer):

  image  forward(images): input "pixel_values", float32 N x 3 x H x W, RGB scaled to [0, 1] and
         normalised with the model's mean / std; output "embeddings", float32 N x D; N dynamic.
  text   encode_tokens(input_ids, attention_mask, zeros): inputs "input_ids" and "attention_mask", int64
         N x L, padded; output "embeddings"; N and L dynamic. token_type_ids are zeros inside the graph:
         finetuner encodes single texts, whose type ids are all 0, so no model needs them as an input.

Opset 17 (LayerNormalization is one operator from 17 on), or the highest this torch has below it.
Errors are one line ``onnx_export: error: ...`` on stderr, exit code 1.
"""

import argparse
import json
import os
import sys

# Run as a file, Python puts this folder first on sys.path, where our module names (weights, text, cli,
# safetensors...) could shadow what torch imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

WANTED_OPSET = 17


def fail(message):
    print(f"onnx_export: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="onnx_export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-pt", required=True, help="a saved finetuner model's model.pt")
    p.add_argument("--image", help="write the image encoder (forward) here")
    p.add_argument("--text", help="write the text encoder (encode_tokens) here")
    p.add_argument("--image-size", type=int, default=224, help="height and width of the example image")
    p.add_argument("--opset", type=int, default=None, help=f"ONNX opset (default {WANTED_OPSET} or the highest below)")
    return p.parse_args(argv)


def opset_version(torch, wanted):
    from torch.onnx import _constants

    highest = getattr(_constants, "ONNX_MAX_OPSET", None) or getattr(_constants, "onnx_main_opset", WANTED_OPSET)
    return min(wanted or WANTED_OPSET, highest)


def export(torch, wrapper, example, names, dynamic, out, opset):
    module = torch.jit.script(wrapper)
    dynamic = {**dynamic, "embeddings": {0: "batch"}}
    torch.onnx.export(
        module, example, out, input_names=names, output_names=["embeddings"], dynamic_axes=dynamic,
        opset_version=opset, do_constant_folding=True,
    )


def main(argv):
    args = parse_args(argv)
    if not args.image and not args.text:
        fail("nothing to write: pass --image and/or --text")
    try:
        import torch
    except ImportError as e:
        fail(f"{sys.executable} cannot import torch ({e})")
    import warnings

    warnings.filterwarnings("ignore")  # torch.onnx's shape-inference notes are not the user's concern
    nn = torch.nn
    try:
        model = torch.jit.load(args.model_pt, map_location="cpu").eval()
    except Exception as e:  # noqa: BLE001 - any load failure is the file's fault
        fail(f"cannot load {args.model_pt} as TorchScript: {str(e).strip().splitlines()[0]}")
    opset = opset_version(torch, args.opset)

    class ImageEncoder(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.inner.forward(pixel_values)

    class TextEncoder(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner.encode_tokens(input_ids, attention_mask, torch.zeros_like(input_ids))

    with torch.no_grad():
        if args.image:
            if not hasattr(model, "encode_pixels"):
                fail(f"{args.model_pt} has no image encoder (it is not an image or CLIP model saved by finetuner)")
            size = args.image_size
            print(f"onnx_export: image encoder -> {args.image} (opset {opset})", file=sys.stderr, flush=True)
            export(torch, ImageEncoder(model), (torch.randn(2, 3, size, size),), ["pixel_values"],
                   {"pixel_values": {0: "batch"}}, args.image, opset)
        if args.text:
            if not hasattr(model, "encode_tokens"):
                fail(f"{args.model_pt} has no text encoder (it is not a text or CLIP model saved by finetuner)")
            print(f"onnx_export: text encoder -> {args.text} (opset {opset})", file=sys.stderr, flush=True)
            ids = torch.ones(2, 7, dtype=torch.long)
            axes = {0: "batch", 1: "length"}
            export(torch, TextEncoder(model), (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"],
                   {"input_ids": axes, "attention_mask": axes}, args.text, opset)
    print(json.dumps({"ok": True, "opset": opset}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - reported as one line; the traceback goes above it
        import traceback

        traceback.print_exc()
        # torch.onnx appends the whole graph after "[Caused by"; the reason is before it.
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0].split(" [Caused by")[0].strip()
        fail(f"ONNX export failed: {reason[:400]}")
