"""``autobot-activity serve``: an OTLP/HTTP receiver that stores activity spans as rows.

Agents send activity spans over OTLP (the SDK's OTLP/HTTP exporter, or a Collector in
between) holding only an ingest token that may append for its own organisation; this
service, logged in as the append-only writer role, maps them to rows with the same code as
the in-process exporter and commits them before it answers. See docs/deploy.md.

Needs the ``service`` extra: ``pip install 'autobot-activity-exporters[service]'``.
"""
