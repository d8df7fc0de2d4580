"""Exports backbones to TorchScript for finetuner (see docs/DESIGN.md, "Exported backbone directory").

Run as ``/usr/bin/python3 scripts/export_torchscript NAME --out DIR [--weights FILE | --random-init]``.
"""
