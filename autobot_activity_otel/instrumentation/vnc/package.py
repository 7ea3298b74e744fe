# The VNC instrumentor wraps whichever of the two clients is installed; either one suffices.
# The distribution declares no dist-level ``instruments`` extra (it holds several
# instrumentors), so the "any of" check is done by ``VNCInstrumentor`` itself.
_instruments: tuple[str, ...] = ()
_instruments_any: tuple[str, ...] = ("vncdotool >= 1.2", "asyncvnc >= 1.1")
