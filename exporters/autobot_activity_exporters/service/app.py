"""The ASGI application: ``POST /v1/traces``, ``GET /healthz``, ``GET /metrics`` (Starlette).

The service keeps no state between requests: each request's spans are committed before it
is answered, so any number of processes or replicas can share one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from autobot_activity_exporters.database import create_engine, resolve_database_url
from autobot_activity_exporters.schema import SchemaNotCurrent, require_current
from autobot_activity_exporters.service import otlp
from autobot_activity_exporters.service.config import ServiceConfig
from autobot_activity_exporters.service.ingest import Ingestor, StoreUnavailable
from autobot_activity_exporters.service.metrics import CONTENT_TYPE, ServiceMetrics
from autobot_activity_exporters.service.tokens import TokenRegistry

_logger = logging.getLogger(__name__)

TRACES_PATH, HEALTH_PATH, METRICS_PATH = "/v1/traces", "/healthz", "/metrics"
PATHS = frozenset({TRACES_PATH, HEALTH_PATH, METRICS_PATH})
DATABASE_CONNECT_TIMEOUT_SECONDS = 5.0
"""Short, so an unreachable database turns into a 503 before the sender's own timeout."""
HEALTH_TIMEOUT_SECONDS = 3.0
OVERLOAD_RETRY_AFTER_SECONDS = 1


class IngestService:
    """The service's parts in one worker process: tokens, database engine, metrics."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.tokens = TokenRegistry(config.tokens)
        self.metrics = ServiceMetrics()
        self.engine = create_engine(
            resolve_database_url(config.database_url),
            connect_timeout=DATABASE_CONNECT_TIMEOUT_SECONDS,
        )
        self.ingestor = Ingestor(self.engine, self.metrics)
        self.in_flight = 0

    async def export_traces(self, request: Request) -> Response:
        response = await self._export_traces(request)
        self.metrics.requests.labels(code=str(response.status_code)).inc()
        return response

    async def _export_traces(self, request: Request) -> Response:
        media = otlp.media_type(request.headers.get("content-type"))
        reply = media or otlp.JSON
        token = self.tokens.authenticate(request.headers.get("authorization"))
        if token is None:
            return _failure(reply, 401, "a valid ingest token is required (Authorization: Bearer)")
        if media is None:
            return _failure(reply, 415, f"send {otlp.PROTOBUF} or {otlp.JSON}")
        if self.in_flight >= self.config.max_concurrent:
            return _failure(
                reply, 429, "too many requests in progress", OVERLOAD_RETRY_AFTER_SECONDS
            )
        self.in_flight += 1
        try:
            limit = self.config.max_body_bytes
            try:  # a body trickling in would hold its place among ``max_concurrent``
                async with asyncio.timeout(self.config.body_timeout):
                    sent = await _read_body(request, limit)
            except TimeoutError:
                timeout = self.config.body_timeout
                return _failure(reply, 408, f"the body did not arrive within {timeout} s")
            except ClientDisconnect:  # nobody to answer; not our error (no traceback logged)
                return _failure(reply, 400, "the client went away before its body arrived")
            body = otlp.decompress(sent, request.headers.get("content-encoding"), limit)
            outcome = await self.ingestor.ingest(otlp.decode_request(body, media), token)
        except otlp.BodyTooLarge as exc:
            return _failure(reply, 413, str(exc))
        except otlp.UnsupportedEncoding as exc:
            return _failure(reply, 415, str(exc))
        except otlp.BadRequest as exc:
            return _failure(reply, 400, str(exc))
        except StoreUnavailable as exc:
            return _failure(reply, 503, str(exc), self.config.retry_after)
        finally:
            self.in_flight -= 1
        body = otlp.success(media, outcome.rejected_total, outcome.message())
        return Response(body, media_type=media)

    async def health(self, request: Request) -> Response:
        """200 when the database answers at the schema this service writes, else 503."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                await require_current(self.engine)
        except SchemaNotCurrent as exc:
            return _health(503, str(exc))
        except Exception as exc:
            return _health(503, f"database not reachable ({type(exc).__name__})")
        return _health(200, "ok")

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """SIGHUP reloads the token file while serving; at shutdown the chains' heads are
        checkpointed and the engine closes."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.tokens.reload)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            await self.ingestor.close()
            await self.engine.dispose()


def create_app(config: ServiceConfig) -> Starlette:
    service = IngestService(config)
    app = Starlette(
        routes=[
            Route(TRACES_PATH, service.export_traces, methods=["POST"]),
            Route(HEALTH_PATH, service.health, methods=["GET"]),
            Route(METRICS_PATH, service.metrics_text, methods=["GET"]),
        ],
        lifespan=service.lifespan,
    )
    app.state.service = service
    return app


def app_from_env() -> Starlette:
    """The factory each worker process calls (``uvicorn --factory``)."""
    return create_app(ServiceConfig.from_env())


async def _read_body(request: Request, limit: int) -> bytes:
    """The body as sent, refused (413) as soon as it is known to be above ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise otlp.BodyTooLarge(f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise otlp.BodyTooLarge(f"the body is larger than {limit} bytes")
    return bytes(body)


def _failure(media: str, status: int, message: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = otlp.failure(media, otlp.GRPC_CODES[status], message)
    return Response(body, status_code=status, media_type=media, headers=headers)


def _health(status: int, reason: str) -> Response:
    document = {"status": "ok" if status == 200 else "unavailable", "reason": reason}
    return Response(json.dumps(document), status_code=status, media_type="application/json")
