"""Store autobot activity spans as audit rows in SQLite or PostgreSQL, and query them.

The public names are imported on first use (PEP 562), so the ``autobot-activity`` command
does not pay for the SDK and Alembic when it only queries.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from autobot_activity_exporters.version import __version__

if TYPE_CHECKING:
    from autobot_activity_exporters.configuration import configure
    from autobot_activity_exporters.exporter import ActivitySpanExporter
    from autobot_activity_exporters.processor import ActivitySpanProcessor
    from autobot_activity_exporters.store import ActivityStore

_MODULES = {
    "ActivitySpanExporter": "autobot_activity_exporters.exporter",
    "ActivitySpanProcessor": "autobot_activity_exporters.processor",
    "ActivityStore": "autobot_activity_exporters.store",
    "configure": "autobot_activity_exporters.configuration",
}

__all__ = [
    "ActivitySpanExporter",
    "ActivitySpanProcessor",
    "ActivityStore",
    "__version__",
    "configure",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_MODULES[name]), name)


def __dir__() -> list[str]:
    """The public names too, though they load on first use."""
    return sorted({*globals(), *__all__})
