"""Store autobot activity spans as audit rows in SQLite or PostgreSQL, and query them."""

from autobot_activity_exporters.exporter import ActivitySpanExporter
from autobot_activity_exporters.version import __version__

__all__ = ["ActivitySpanExporter", "__version__"]
