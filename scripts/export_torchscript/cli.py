"""Command line: python3 scripts/export_torchscript NAME --out DIR [--weights FILE|DIR | --random-init] ..."""
import argparse
import json
import os
import sys
import traceback

PROG = "export_torchscript"
APT_HINT = "apt-get install -y python3-torch python3-torchvision"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit status 2, instead of argparse's usage block
        print(f"{PROG}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _parser(known_names) -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Export a backbone to TorchScript for finetuner.")
    p.add_argument("name", help="model name: " + ", ".join(known_names))
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if needed)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--weights", metavar="FILE|DIR", help="image models: a state_dict saved with torch.save, as "
                     "torchvision downloads them (default: the torch hub cache); text models: a Hugging Face model "
                     "folder with config.json, model.safetensors or pytorch_model.bin, and tokenizer.json "
                     "(default: the Hugging Face hub cache); CLIP: an open_clip checkpoint (torch.save or "
                     ".safetensors), an OpenAI TorchScript archive (RN50.pt...) or a Hugging Face CLIP folder "
                     "(default for openai/clip-vit-*: the Hugging Face hub cache)")
    src.add_argument("--random-init", action="store_true", help="no checkpoint: seeded random initialisation")
    p.add_argument("--seed", type=int, default=0, help="seed for --random-init (default 0)")
    p.add_argument("--size", choices=["full", "tiny"], default="full",
                   help="full: the published architecture; tiny: a small one for tests (default full)")
    p.add_argument("--tokenizer", metavar="FILE", help="text and CLIP models: a tokenizer.json to copy next to "
                   "model.pt (default: the one in the --weights folder); with --size tiny it also sets the vocabulary "
                   "size")
    p.add_argument("--vocab-size", type=int, metavar="N", help="text models, --random-init --size tiny; CLIP, --size "
                   "tiny: vocabulary size (default: the --tokenizer's, else 1000)")
    return p


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv=None) -> int:
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as e:
        print(f"{PROG}: error: {sys.executable} cannot import torch/torchvision ({e}); install them with: "
              f"{APT_HINT}", file=sys.stderr)
        return 1

    from . import cnn  # noqa: F401  (registers resnet*, efficientnet_*)
    from . import text  # noqa: F401  (registers bert-base-cased, sentence-transformers/msmarco-distilbert-base-v3)
    from . import clip_export  # noqa: F401  (registers the 32 CLIP names: ViT-B-32::openai, openai/clip-vit-*...)
    from . import registry
    from .export import export

    args = _parser(registry.names()).parse_args(argv)
    try:
        if args.seed < 0:
            raise registry.ExportError(f"--seed must be >= 0, got {args.seed}", exit_code=2)
        spec = registry.get(args.name)
        meta = export(spec, args.out, args.size, args.weights, args.random_init, args.seed, _progress,
                      tokenizer=args.tokenizer, vocab_size=args.vocab_size)
    except registry.ExportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - unexpected: still one line, traceback on request
        if os.environ.get("FINETUNER_DEBUG"):
            traceback.print_exc()
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"{PROG}: error: exporting {args.name} failed: {type(e).__name__}: {first}", file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "dir": os.path.abspath(args.out), "embeddingDim": meta["embeddingDim"]}))
    return 0
