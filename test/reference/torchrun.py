# torchrun (torch.distributed.run) as the reference launcher for test/launch.test.ts. Debian's torch 1.13
# on Python 3.11 cannot parse its own --redirects/--tee defaults (Std.from_str compares an Enum with an
# int and returns None), so this sets them to "no redirection" before running torchrun's main.
import sys

from torch.distributed.elastic.multiprocessing import api

api.Std.from_str = classmethod(lambda cls, value: api.Std.NONE)

from torch.distributed import run  # noqa: E402 (after the patch)

run.main(sys.argv[1:])
