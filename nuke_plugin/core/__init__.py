"""The pure core of the Nuke plugin: node graphs as data, knob and curve encoders, the .nk
writer and reader. Never imports ``nuke`` (tests run it without Nuke); the host adapter
(``nuke_plugin/host.py``) is the only module that does."""
