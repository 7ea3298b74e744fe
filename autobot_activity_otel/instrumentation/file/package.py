# The file instrumentor wraps the standard library; aiofiles is wrapped only when importable,
# so it is not a requirement (a listed library that is missing would disable the instrumentor).
_instruments: tuple[str, ...] = ()
