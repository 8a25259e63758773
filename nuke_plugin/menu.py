"""Nuke runs this after init.py when it has a GUI: Nodes toolbar > vfx_double > DigitalDouble.

Guarded: an import error is printed to the terminal and the entry left out, never raised
into Nuke's startup.
"""

import nuke

try:
    from nuke_plugin import host
except Exception as err:  # a broken plugin must never stop Nuke from starting
    nuke.tprint(f"vfx_double: menu.py: nuke_plugin.host does not import ({err!r}); "
                "the DigitalDouble node is not in the menu")
else:
    toolbar = nuke.toolbar("Nodes")
    if toolbar is None:
        nuke.tprint("vfx_double: menu.py: no Nodes toolbar; the DigitalDouble node is not in it")
    else:
        toolbar.addMenu("vfx_double").addCommand("DigitalDouble", host.create_digital_double)
