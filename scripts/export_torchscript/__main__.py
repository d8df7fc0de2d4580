"""Entry point for ``python3 scripts/export_torchscript ...``.

Python runs a directory by putting the directory itself first on sys.path, so our module names
(``weights``, ``metadata``...) would shadow installed modules of the same name and could not use
relative imports. We swap that entry for the parent directory and import ourselves as a package.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _here:
    sys.path[0] = os.path.dirname(_here)
else:
    sys.path.insert(0, os.path.dirname(_here))

from export_torchscript.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
