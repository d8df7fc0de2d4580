#!/usr/bin/python3
"""Exports the bench's finetuner models to ONNX, for the onnxruntime-node peer of `npm run bench`.

The ONNX model computes what the addon computes for encode, from the SAME exported weights (the bench
cache's model.pt, loaded with torch.jit.load(...).state_dict() into the exporter's eager definition,
strict), so that onnxruntime-node and the addon run the same model:

  resnet     torchvision resnet50, trunk (conv1 ... layer4) -> average pool -> L2 normalisation.
             Input "pixels": float32 N x 3 x H x W, already scaled to [0, 1] and normalised with the
             model's mean/std (the addon does that inside encode_pixels; the ORT side does it in JS).
  bert       scripts/export_torchscript/bert.py's BertModel (as bert_eager.py builds it) -> mean of the
             token states over the attention mask -> L2 normalisation. Inputs "input_ids",
             "attention_mask", "token_type_ids": int64 N x L (batch and length dynamic).
  clip-image CLIP's image tower (clip_configs.build_from_config, as clip_eager.py builds it):
             encode_image -> L2 normalisation. Input "pixels" as for resnet, at the tower's image size.

The output is "embeddings": float32 N x D; the batch axis is dynamic. torch.onnx.export traces the eager
module (tracing a ScriptModule is fussier), writing ONNX opset 17 (LayerNormalization is a single
operator from 17 on), or the highest opset this torch supports below it. The onnx Python package is not
needed. The file is written next to its final name and renamed, so an interrupted export leaves nothing.

  /usr/bin/python3 scripts/bench/onnx_export.py --kind bert --model-dir DIR --out FILE.onnx
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)

WANTED_OPSET = 17


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", required=True, choices=["resnet", "bert", "clip-image"])
    p.add_argument("--model-dir", required=True, help="exported finetuner backbone (model.pt, finetuner.json)")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=None, help=f"ONNX opset (default {WANTED_OPSET} or the highest below)")
    return p.parse_args(argv)


def l2_normalized(torch, x):
    """native/module_builder.cc's normalisation (and the Python peers')."""
    return x / torch.sqrt((x * x).sum(1, keepdim=True)).clamp(min=1e-12)


def resnet_module(torch, model_dir, meta):
    import torchvision

    nn = torch.nn
    if meta.get("family") != "resnet" or meta.get("size") != "full":
        raise SystemExit(f"onnx_export.py: {model_dir} is not a full-size resnet export")
    backbone = getattr(torchvision.models, meta["name"])(weights=None)
    state = torch.jit.load(os.path.join(model_dir, meta["model"]), map_location="cpu").state_dict()
    backbone.load_state_dict(state, strict=True)
    trunk = nn.Sequential(*[getattr(backbone, child) for child in meta["trunk"]])
    size = meta["preprocessing"]["crop"]

    class ImageEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = trunk

        def forward(self, pixels):
            x = self.trunk(pixels).mean([2, 3])
            return l2_normalized(torch, x)

    example = (torch.randn(2, 3, size, size),)
    return ImageEmbedding(), example, ["pixels"], {"pixels": {0: "batch"}}


def bert_module(torch, model_dir, meta):
    from bert_eager import build_backbone

    nn = torch.nn
    backbone, _ = build_backbone(torch, model_dir)

    class TextEmbedding(nn.Module):
        """bert_eager.py's TextEmbedding: mean pooling over the mask, L2-normalised."""

        def __init__(self):
            super().__init__()
            self.trunk = backbone

        def forward(self, input_ids, attention_mask, token_type_ids):
            x = self.trunk(input_ids, attention_mask, token_type_ids)
            m = attention_mask.unsqueeze(-1).to(x.dtype)
            x = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return l2_normalized(torch, x)

    # Padding in the example, so that no shape or mask path is specialised to a full batch.
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 10:] = 0
    ids = ids * mask
    types = torch.zeros(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    return TextEmbedding(), (ids, mask, types), names, {n: {0: "batch", 1: "length"} for n in names}


def clip_image_module(torch, model_dir, meta):
    from clip_eager import build_clip

    nn = torch.nn
    clip, _ = build_clip(torch, model_dir)
    visual = clip.visual
    size = int(visual.image_size)

    class ImageTower(nn.Module):
        """clip_eager.py's encode_pixels after the pixel normalisation: encode_image, L2-normalised."""

        def __init__(self):
            super().__init__()
            self.visual = visual

        def forward(self, pixels):
            return l2_normalized(torch, self.visual(pixels))

    example = (torch.randn(2, 3, size, size),)
    return ImageTower(), example, ["pixels"], {"pixels": {0: "batch"}}


BUILDERS = {"resnet": resnet_module, "bert": bert_module, "clip-image": clip_image_module}


def main(argv):
    args = parse_args(argv)
    import torch
    from torch.onnx import _constants

    started = time.perf_counter()
    with open(os.path.join(args.model_dir, "finetuner.json"), encoding="utf-8") as f:
        meta = json.load(f)
    torch.manual_seed(0)
    module, example, input_names, dynamic = BUILDERS[args.kind](torch, args.model_dir, meta)
    module.eval()
    opset = args.opset or min(WANTED_OPSET, _constants.ONNX_MAX_OPSET)
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"
    try:
        with torch.no_grad():
            reference = module(*example)
            torch.onnx.export(
                module,
                example,
                tmp,
                input_names=input_names,
                output_names=["embeddings"],
                dynamic_axes={**dynamic, "embeddings": {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(json.dumps({
        "onnx": out,
        "kind": args.kind,
        "model": meta["name"],
        "opset": opset,
        "torch": torch.__version__,
        "inputs": input_names,
        "dim": int(reference.shape[1]),
        "bytes": os.path.getsize(out),
        "seconds": round(time.perf_counter() - started, 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
