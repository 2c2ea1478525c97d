"""Starting and stopping one API process: database, first admin, built-in plugins, workers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from jobgraph.db import migrate
from jobgraph.resolvers import installed_plugins, plugins, users
from jobgraph.runtime import Runtime, build_runtime
from jobgraph.settings import Settings
from jobgraph.tasks.broker import BrokerDispatcher, make_broker
from jobgraph.tasks.worker import WorkerService
from jobgraph.unit import unit_of_work

log = logging.getLogger(__name__)


def prepare_database(rt: Runtime) -> None:
    """Bring the schema up to date where that is allowed, else refuse to run on an old one."""
    settings = rt.settings
    auto = settings.auto_migrate if settings.auto_migrate is not None else settings.is_sqlite
    if auto:
        migrate.upgrade(rt.db)
    else:
        migrate.require_current(rt.db)


def register_installed_plugins(rt: Runtime) -> None:
    """The plugins of installed packages (entry points), registered or updated. Processes that
    start together (`jobgraph worker --processes N`) may race to insert the same new plugin: the
    loser tries once more, and finds it. A failure is logged: this never stops a start."""
    for last in (False, True):
        try:
            with unit_of_work(rt, write=True) as u:
                installed_plugins.register_installed_plugins(u)
            return
        except IntegrityError:
            if last:
                log.warning("plugins of installed packages not registered: another process is registering them")
        except Exception:
            log.exception("plugins of installed packages not registered")
            return


class Service:
    def __init__(self, settings: Settings, *, start_workers: bool | None, announce: Callable[[str], None]) -> None:
        self.settings = settings
        self.start_workers = settings.run_embedded_workers if start_workers is None else start_workers
        self.announce = announce
        self.rt: Runtime | None = None
        self.workers: WorkerService | None = None

    async def start(self) -> None:
        await run_in_threadpool(self._start)

    async def stop(self) -> None:
        await run_in_threadpool(self._stop)

    def _start(self) -> None:
        settings = self.settings
        broker = make_broker(settings)
        rt = self.rt = build_runtime(settings, dispatcher=BrokerDispatcher(broker))
        prepare_database(rt)
        with unit_of_work(rt, write=True) as u:
            token = users.ensure_admin(u)
            if settings.builtin_plugins:
                plugins.register_builtin_plugins(u)
        if settings.installed_plugins:
            register_installed_plugins(rt)
        if token:
            self.announce(
                f"Created the first admin, {settings.admin_email}. Its API token (shown only now):\n\n    {token}\n"
            )
        if self.start_workers:
            self.workers = WorkerService(
                rt,
                broker,
                queues=None,
                threads=settings.worker_threads,
                # Only the embedded default owns every running job: whatever ran before this
                # start was interrupted. With separate workers, heartbeats decide.
                recover_all_running=settings.redis_url is None,
            )
            self.workers.start()

    def _stop(self) -> None:
        if self.workers is not None:
            self.workers.stop()
            self.workers = None
        if self.rt is not None:
            self.rt.close()
