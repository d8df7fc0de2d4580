"""A small reader of the safetensors format (no ``safetensors`` package on these machines).

Layout: 8-byte little-endian header length n, n bytes of JSON ({name: {"dtype", "shape", "data_offsets":
[begin, end]}, optional "__metadata__": {str: str}}), then the tensor bytes; offsets are relative to the
end of the header. Every inconsistency is reported as SafetensorsError naming the file.
"""
import json
import os
import struct
from typing import Dict

import torch

# safetensors dtype -> (torch dtype, bytes per element)
DTYPES = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit


class SafetensorsError(ValueError):
    pass


def load_file(path: str) -> Dict[str, torch.Tensor]:
    """Reads every tensor of a .safetensors file into CPU tensors that own their memory."""
    def bad(why: str) -> SafetensorsError:
        return SafetensorsError(f"{path} is not a valid safetensors file: {why}")

    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise bad(f"{size} bytes, too short for the 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or 8 + n > size:
            raise bad(f"header length {n} does not fit in the file's {size} bytes (truncated or not safetensors)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise bad(f"the header is not JSON ({e})") from None
        if not isinstance(header, dict):
            raise bad("the header is not a JSON object")
        data = f.read()  # everything after the header; tensors are sliced (and copied) out of it

    view = memoryview(data)
    tensors: Dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise bad(f"entry {name!r} lacks dtype, shape or data_offsets")
        dtype = info["dtype"]
        if dtype not in DTYPES:
            raise bad(f"tensor {name!r} has unsupported dtype {dtype!r} (supported: {', '.join(DTYPES)})")
        torch_dtype, width = DTYPES[dtype]
        shape, offsets = info["shape"], info["data_offsets"]
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise bad(f"tensor {name!r} has shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise bad(f"tensor {name!r} has data_offsets {offsets!r}")
        begin, end = offsets
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end:
            raise bad(f"tensor {name!r} has data_offsets {offsets!r}")
        if end > len(data):
            raise bad(f"tensor {name!r} ends at byte {end} of the data but the file holds {len(data)} "
                      "bytes of data (truncated)")
        if end - begin != count * width:
            raise bad(f"tensor {name!r}: {dtype} {shape} needs {count * width} bytes, data_offsets give {end - begin}")
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=torch_dtype)
            continue
        # bytearray: a writable copy, so the tensor owns its memory (frombuffer warns on read-only data).
        # The format is little-endian, as are the machines this runs on.
        flat = torch.frombuffer(bytearray(view[begin:end]), dtype=torch_dtype)
        tensors[name] = flat.reshape(shape)
    return tensors
