"""The ``cmd_*`` functions, one module per command group; each takes the parsed arguments, returns the exit status
and imports the heavy modules (fusion, imaging, vision, the studio) only when it runs."""

from fusionkit.cli.commands.detect import cmd_detect
from fusionkit.cli.commands.fuse import cmd_fuse, cmd_studio_fuse
from fusionkit.cli.commands.studio import (
    cmd_activity,
    cmd_encrypt,
    cmd_erase,
    cmd_logs,
    cmd_material,
    cmd_result,
    cmd_sweep,
)
from fusionkit.cli.commands.video import cmd_video

__all__ = [
    "cmd_activity",
    "cmd_detect",
    "cmd_encrypt",
    "cmd_erase",
    "cmd_fuse",
    "cmd_logs",
    "cmd_material",
    "cmd_result",
    "cmd_studio_fuse",
    "cmd_sweep",
    "cmd_video",
]
