"""fusionkit: face fusion on your own machine.

Merge a person's face into template images and videos, offline and fast. See the README for the two commands
that set everything up, and ``docs/`` for the concepts.
"""

from fusionkit import errors
from fusionkit._version import __version__
from fusionkit.errors import FusionKitError

__all__ = ["FusionKitError", "__version__", "errors"]
