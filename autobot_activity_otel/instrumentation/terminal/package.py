# The terminal instrumentor wraps the standard library only.
_instruments: tuple[str, ...] = ()
