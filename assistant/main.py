"""The FastAPI application: one process serving every channel, the API and Rasa's action endpoint.

``uvicorn assistant.main:create_app --factory`` (or ``assistant serve``). The lifespan wires everything
once: logging, database (migrated), procedure catalogue, the Rasa agent and the custom actions.
"""

from __future__ import annotations

# skops, which Rasa's LogisticRegressionClassifier loads its model with, walks every module already
# imported when it is first imported (seconds once TensorFlow is in). Importing it first keeps that walk
# short: the cold start drops by about 6 s. Keep this import above all others.
import skops.io  # noqa: F401

# isort: split
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from assistant import outages
from assistant.api.routes import actions, console, health, metrics, procedures
from assistant.channels import messenger, rest, web, zalo, zalo_token
from assistant.channels.web_auth import WidgetCors
from assistant.errors import AssistantError, ModelNotReady
from assistant.limits import BodyLimitMiddleware
from assistant.logs import configure_logging
from assistant.processes import SingleProcessGuard
from assistant.settings import Settings, get_settings

logger = logging.getLogger(__name__)


#: The garbage collector's thresholds once serving (Python's default: 700, 10, 10). Nearly everything a turn
#: allocates is freed by reference counting; these only make the collector's passes rarer.
GC_THRESHOLDS = (10_000, 50, 100)


async def forget_in_thread(db_engine: Engine, sender_id: str) -> None:
    """Delete our rows about a conversation without blocking the event loop."""
    import asyncio

    from assistant.retention import forget_conversation

    await asyncio.to_thread(forget_conversation, db_engine, sender_id)


def create_app(settings: Settings | None = None, *, load_model: bool = True) -> FastAPI:
    """Build the application.

    Args:
        settings: configuration; defaults to :func:`~assistant.settings.get_settings`.
        load_model: load the Rasa agent in the lifespan (tests of the API alone pass False).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        configure_logging(settings.log_level)
        from rasa_sdk.executor import ActionExecutor

        from assistant.catalogue.service import Catalogue
        from assistant.db.migrate import upgrade
        from assistant.db.session import make_engine
        from assistant.handoff import HandoffService
        from assistant.metrics import Metrics, counting

        db_engine = make_engine(settings.database_url)
        guard = SingleProcessGuard(settings, db_engine)
        guard.acquire()  # a second process on SQLite, or without Redis, stops here with the reason
        if settings.migrate_on_start:
            upgrade(db_engine)
        app.state.db_engine = db_engine
        if settings.migrate_on_start:  # with --workers, `assistant serve` migrated and loaded before starting them
            app.state.catalogue = Catalogue.from_db_or_directory(db_engine, settings.procedures_dir)
        else:
            app.state.catalogue = Catalogue.from_db(db_engine)
        app.state.handoffs = HandoffService.from_settings(db_engine, settings)
        app.state.metrics = Metrics(db_engine)
        app.state.zalo_tokens = await zalo_token.start(settings, db_engine)  # renewed; the pair in the database
        executor = ActionExecutor()
        executor.register_package("actions")
        app.state.action_executor = executor
        app.state.engine = None
        if load_model:
            from assistant.engine import ConversationEngine

            try:
                app.state.engine = await ConversationEngine.load(
                    settings,
                    after_turn=counting(app.state.handoffs.after_turn),
                    is_paused=app.state.handoffs.is_paused,
                    gate=app.state.handoffs.gate,
                    forget=partial(forget_in_thread, db_engine),
                    action_executor=executor,
                )
            except ModelNotReady as e:
                logger.error("%s", e)
        # What is loaded now (the model, TensorFlow, Rasa, the catalogue) lives as long as the process: keep it out
        # of the garbage collector's passes. A full pass also walks every tracker kept in memory (hundreds of ms
        # with a full tracker cache, every conversation waiting): run the collector's generations less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        logger.info("ready in %.1f s", time.perf_counter() - started)
        from assistant.outbox_worker import OutboxWorker

        worker = OutboxWorker(app)  # accepted platform events, retried sends, hand-off timeouts
        worker.start()
        yield
        await worker.stop()
        await zalo_token.stop(app.state.zalo_tokens)
        guard.release()
        db_engine.dispose()

    app = FastAPI(
        title="Trợ lý ảo dịch vụ công",
        description="Vietnamese virtual assistant for online public services",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = None
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(rest.router)
    app.include_router(zalo.router)
    app.include_router(messenger.router)
    app.include_router(procedures.router)
    if settings.action_endpoint:  # actions on a separate action server: this app can be that server
        app.include_router(actions.router)
    app.include_router(web.router)
    app.include_router(console.router)
    # CORS on the widget's routes only, for the portals of ASSISTANT_ALLOWED_ORIGINS (and our own demo page)
    app.add_middleware(WidgetCors, allowed_origins=settings.allowed_origin_list)

    outages.install(app)  # PostgreSQL or Redis away for a while: 503 with a polite reason, then recovery

    @app.exception_handler(ModelNotReady)
    async def _not_ready(_request: Request, _exc: ModelNotReady) -> JSONResponse:
        return JSONResponse({"detail": "Trợ lý đang khởi động, vui lòng thử lại sau ít phút."}, status_code=503)

    @app.exception_handler(AssistantError)
    async def _assistant_error(_request: Request, exc: AssistantError) -> JSONResponse:
        logger.warning("request failed: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": "Yêu cầu không hợp lệ.", "errors": exc.errors()}, status_code=422)

    return app
