"""Figure 1: instrumentation overhead against a bare OpenTelemetry span with the same attributes.

Both sides run under the same SDK set-up (a ``BatchSpanProcessor`` whose exporter discards),
so the ratio is what our attribution, id, redaction and secret summary add to a span.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from autobot_activity_otel import activity_context, terminal_activity, track_command_execution
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor
from benchmarks.harness import Row, alternating, markdown, micros

USER = uuid.UUID("0195f000-0000-7000-8000-000000000001")
COMMAND = "git status --short --branch"
ORG = uuid.UUID(int=1)


class Discard(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _drive(coroutine: object) -> object:
    """Run a coroutine that never suspends (no ``db``) without an event loop's overhead."""
    try:
        coroutine.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        return done.value
    raise RuntimeError("coroutine suspended")


def run(number: int = 5_000) -> list[Row]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("bench")
    activity_id = str(uuid.uuid4())

    identity = {
        attr.ACTIVITY_TYPE: "terminal",
        attr.ACTIVITY_ID: activity_id,
        attr.ACTIVITY_ACTION: "execute",
        attr.USER_ID: str(USER),
        attr.SESSION_ID: "chat-1",
        attr.ACTIVITY_ORG_ID: str(ORG),
    }

    def bare(name: str, values: dict[str, str | int]) -> Callable[[], None]:
        """A span made by hand with the same attributes as ours."""

        def span() -> None:
            with tracer.start_as_current_span(name, attributes=identity) as current:
                for key, value in values.items():
                    current.set_attribute(key, value)

        return span

    bare_command = bare(
        "terminal execute",
        {
            attr.PROCESS_COMMAND_LINE: COMMAND,
            attr.PROCESS_WORKING_DIRECTORY: "/srv/app",
            attr.PROCESS_EXIT_CODE: 0,
            attr.TERMINAL_OUTPUT: "## main\n M README.md\n",
            attr.TERMINAL_SHELL: "bash",
        },
    )
    bare_handler = bare(
        "terminal handler", {attr.PROCESS_COMMAND_LINE: COMMAND, attr.PROCESS_EXIT_CODE: 0}
    )

    def tracked_command() -> None:
        _drive(
            track_command_execution(
                user_id=USER,
                command=COMMAND,
                session_id="chat-1",
                working_directory="/srv/app",
                exit_code=0,
                output="## main\n M README.md\n",
                shell_type="bash",
            )
        )

    @terminal_activity
    def handler(command: str, user_id: uuid.UUID, session_id: str) -> int:
        return 0

    def decorated_handler() -> None:
        handler(COMMAND, USER, "chat-1")

    with activity_context(org_id=ORG):
        t = alternating(
            {
                "bare_command": bare_command,
                "tracked": tracked_command,
                "bare_handler": bare_handler,
                "decorated": decorated_handler,
            },
            number=number,
        )
    provider.shutdown()

    originals = {name: subprocess.Popen.__dict__[name] for name in ("__init__", "wait")}
    instrumentor = TerminalInstrumentor()
    instrumentor.instrument()
    instrumentor.uninstrument()
    restored = all(subprocess.Popen.__dict__[n] is f for n, f in originals.items())
    return [
        Row(
            "`track_command_execution` (no `db`), typical command, no secret",
            micros(t["tracked"]),
            micros(t["bare_command"]),
            f"{t['tracked'] / t['bare_command']:.2f}×",
            "≤ 1.5×",
        ),
        Row(
            "`@terminal_activity` no-op handler",
            micros(t["decorated"]),
            micros(t["bare_handler"]),
            f"{t['decorated'] / t['bare_handler']:.2f}×",
            "≤ 1.5×",
        ),
        Row(
            "after `uninstrument()`: `Popen` methods are the originals",
            "yes" if restored else "NO",
            "",
            "1.00× (same objects)" if restored else "",
            "exact originals",
        ),
    ]


METHOD = """
Each candidate runs 5,000 calls per round, 9 rounds, round-robin with its baseline; the
median of the rounds is reported. Baseline: `tracer.start_as_current_span` plus
`set_attribute` with the same attribute names and values, same SDK `TracerProvider` and
`BatchSpanProcessor` (discarding exporter). Ours includes the UUIDv7 id, attribution from
the context, secret redaction of every text and the span itself.
"""

if __name__ == "__main__":
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    print(markdown("Instrumentation overhead", run(number), METHOD))
