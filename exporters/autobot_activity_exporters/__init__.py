"""Store autobot activity spans as audit rows in SQLite or PostgreSQL, and query them."""

from autobot_activity_exporters.configuration import configure
from autobot_activity_exporters.exporter import ActivitySpanExporter
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.version import __version__

__all__ = ["ActivitySpanExporter", "ActivityStore", "__version__", "configure"]
