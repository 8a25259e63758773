"""Nuke runs this at startup from every folder on ``NUKE_PATH``, in the GUI and in ``nuke -t``
/ ``nuke -x`` alike: paths only, no UI.

This folder (``nuke_plugin/``) is what goes on ``NUKE_PATH``; Nuke runs this file as a script,
not as part of the package, so the package's parent is put on ``sys.path`` here: then
``nuke_plugin.host`` (and the pipeline beside it, for farm submission) import by their full
names. The plugin has no gizmo or icon folders, so nothing else is added to the plugin path.
"""

import os
import sys

import nuke


def _plugin_folder() -> str:
    """This folder: from ``__file__`` where Nuke sets it, else the plugin path entry that
    holds the host adapter."""
    here = globals().get("__file__")
    if isinstance(here, str):
        return os.path.dirname(os.path.abspath(here))
    for folder in nuke.pluginPath():
        if os.path.isfile(os.path.join(folder, "host.py")) and os.path.isfile(
                os.path.join(folder, "core", "graph.py")):
            return os.path.abspath(folder)
    raise FileNotFoundError("no folder on the plugin path holds nuke_plugin's host.py")


def _add_package_parent() -> None:
    parent = os.path.dirname(_plugin_folder())
    if parent not in sys.path:
        sys.path.append(parent)


try:
    _add_package_parent()
except Exception as err:  # a broken plugin must never stop Nuke from starting
    nuke.tprint(f"vfx_double: init.py failed, the DigitalDouble node is unavailable: {err!r}")
