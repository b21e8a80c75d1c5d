"""The FastAPI application: ``create_app(settings)``.

    >>> app = create_app(Settings(data_dir="/tmp/arena"), workers=1)   # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app)                               # doctest: +SKIP

Nothing touches the database before the app starts: the lifespan hook makes the engine,
applies the migrations (``auto_migrate``) and starts ``workers`` scoring threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unmask import __version__
from unmask.arena.api.render import make_templates, render
from unmask.arena.api.routes import challenges, host, host_pages, pages
from unmask.arena.core.config import Settings, resolve_secret_key
from unmask.arena.core.db import make_engine, migrate, session_factory
from unmask.arena.core.security import Signer
from unmask.arena.errors import ArenaError, AuthError, RateLimitedError
from unmask.arena.queries import LeaderboardCache
from unmask.arena.worker import Worker
from unmask.errors import ConfigError, DatasetError, InvalidSubmissionError

log = logging.getLogger("unmask.arena")
FORM_OVERHEAD = 1 << 20  # multipart framing and form fields around an upload

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class BodyLimit:
    """Answer 413 to any request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self.max_bytes} bytes"}, status_code=413
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class SecurityHeaders:
    """CSP (no inline script), no framing, no sniffing, no referrer, on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in ("/docs", "/docs/oauth2-redirect")  # Swagger UI needs its CDN

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if not docs:
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or request.url.path == "/openapi.json"


def _error(request: Request, status: int, message: str, *, problems: list[str] | None = None,
           headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    if _wants_json(request):
        body: dict[str, Any] = {"detail": message}
        if problems is not None:
            body["problems"] = problems
        return JSONResponse(body, status_code=status, headers=headers)
    response = render(request, "error.html", {"status": status, "detail": message, "problems": problems or []},
                      status=status)  # fmt: skip
    response.headers.update(headers or {})
    return response


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ArenaError)
    async def arena_error(request: Request, err: ArenaError) -> Response:
        headers = {}
        if isinstance(err, RateLimitedError):
            headers["Retry-After"] = str(err.retry_after_s)
        if isinstance(err, AuthError):
            headers["WWW-Authenticate"] = "Bearer"
        return _error(request, err.status_code, str(err), headers=headers)

    @app.exception_handler(InvalidSubmissionError)
    async def invalid_submission(request: Request, err: InvalidSubmissionError) -> Response:
        return _error(request, 422, str(err), problems=err.problems[:50])

    @app.exception_handler(DatasetError)
    async def dataset_error(request: Request, err: DatasetError) -> Response:
        return _error(request, 422, str(err))

    @app.exception_handler(ValidationError)
    async def validation_error(request: Request, err: ValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        return _error(request, 422, "invalid form", problems=problems)

    @app.exception_handler(RequestValidationError)
    async def request_validation_error(request: Request, err: RequestValidationError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": _jsonable(err.errors())}, status_code=422)
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        return _error(request, 422, "invalid form", problems=problems)


def _jsonable(errors: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors, custom_encoder={bytes: lambda b: b.decode("utf-8", "replace")})


def _start_workers(app: FastAPI, n: int) -> list[threading.Thread]:
    threads = []
    for i in range(n):
        worker = Worker(
            app.state.write_sessions,
            app.state.read_sessions,
            app.state.settings,
            stop=app.state.stop,
            wakeup=app.state.wakeup,
            name=f"embedded-{i}",
        )
        thread = threading.Thread(target=worker.run, name=f"arena-worker-{i}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_engine(settings.sqlalchemy_url)
    if settings.auto_migrate:
        migrate(engine)
    app.state.engine = engine
    app.state.read_sessions = session_factory(engine)
    app.state.write_sessions = session_factory(engine, write=True)
    threads = _start_workers(app, app.state.n_workers)
    try:
        yield
    finally:
        app.state.stop.set()
        app.state.wakeup.set()
        for thread in threads:
            thread.join(timeout=10)
        engine.dispose()


def create_app(settings: Settings | None = None, *, workers: int = 0) -> FastAPI:
    """The arena web app; ``workers`` scoring threads run inside it (one at most on SQLite)."""
    settings = settings or Settings()
    if settings.is_sqlite and workers > 1:
        raise ConfigError(
            f"SQLite has a single writer: run one scoring worker, not {workers} "
            "(use PostgreSQL, UNMASK_DATABASE_URL=postgresql+psycopg://..., for more)"
        )
    secret = resolve_secret_key(settings)
    app = FastAPI(
        title="unmask arena",
        version=__version__,
        summary="A deepfake detection challenge: teams, submissions, public and private leaderboards.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.secret_key = secret
    app.state.session_signer = Signer(secret, salt="session")
    app.state.templates = make_templates()
    app.state.boards = LeaderboardCache()
    app.state.wakeup = threading.Event()
    app.state.stop = threading.Event()
    app.state.n_workers = workers
    for module in (challenges, host, pages, host_pages):
        app.include_router(module.router)
    app.mount(
        "/static",
        StaticFiles(directory=str(resources.files("unmask.arena") / "static")),
        name="static",
    )
    _install_handlers(app)
    limit = (
        max(settings.max_csv_bytes, settings.max_code_bytes, settings.max_labels_bytes)
        + FORM_OVERHEAD
    )
    app.add_middleware(BodyLimit, max_bytes=limit)
    app.add_middleware(SecurityHeaders)
    return app
