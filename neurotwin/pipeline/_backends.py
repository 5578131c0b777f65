"""Where tasks run: in this process, in a local process pool, or on Dask.

Every backend calls the same :func:`~._execute.run_task` on the same
:class:`~._execute.Task` objects and yields results as tasks finish.
Outputs are written by the workers themselves, so with Dask the output
folder must be on a file system all workers see (as on an HPC cluster).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._execute import Task, TaskResult, run_task


def lost_reason(err: BaseException) -> str:
    """Why a worker process was lost, and what to do when it is the usual cause."""
    text = f"worker lost: {type(err).__name__}: {err}"
    main = sys.modules.get("__main__")
    if isinstance(err, BrokenProcessPool) and getattr(main, "__file__", None):
        text += (
            f" The workers are spawned and import the script {Path(main.__file__).name} again: if the "
            f"run is not under 'if __name__ == \"__main__\":', each worker starts the run itself and "
            f"dies. Put it under that guard (or use jobs=1)."
        )
    return text


def _lost(task: Task, err: BaseException) -> TaskResult:
    """The result of a task whose worker died (killed, out of memory, a script without a main guard)."""
    res = TaskResult(task.subject, task.session, status="failed")
    res.recordings = [
        {"source": r.source, "status": "failed", "executed": [], "cached": [], "error": lost_reason(err)}
        for r in task.recordings
    ]
    return res


def run_serial(tasks: list[Task], progress) -> Iterator[TaskResult]:
    """Run tasks one after the other in this process."""
    for task in tasks:
        progress.start(task.label)
        yield run_task(task, on_step=progress.step)


def run_pool(tasks: list[Task], jobs: int) -> Iterator[TaskResult]:
    """Run tasks in ``jobs`` worker processes (spawned: no inherited threads or locks)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(run_task, t): t for t in tasks}
        try:
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except Exception as err:  # the worker died
                    yield _lost(futures[fut], err)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def worker_environ() -> dict:
    """The environment Dask's nannies give their workers, without ``MALLOC_TRIM_THRESHOLD_``.

    Dask sets ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc hand
    every freed block back to the system: the twin fits' temporaries then
    cost page faults, and one subject's three sessions took 28 s on a
    worker against 12 s in a process without it. The one-thread settings
    are kept. Local clusters use this; for a cluster of your own, set
    ``distributed.nanny.pre-spawn-environ`` to it (or unset the variable).
    """
    import dask

    return {
        k: v
        for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ") or {}).items()
        if k != "MALLOC_TRIM_THRESHOLD_"
    }


@contextlib.contextmanager
def _dask_client(scheduler: str | None = None, n_workers: int | None = None):
    """A Dask client on a running scheduler, or on a local cluster started (and closed) here."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("Dask backends need the 'dask' extra: pip install 'neurotwin[dask]'.") from None
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        import dask

        with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
            cluster = LocalCluster(
                n_workers=n_workers or 2, threads_per_worker=1, processes=True, dashboard_address=":0"
            )  # any free port: never clash with another cluster
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dask_client(scheduler: str | None = None, n_workers: int | None = None):
    """A context manager giving a Dask client (see :func:`run_dask`), for several phases to share."""
    return _dask_client(scheduler, n_workers)


def run_dask(
    tasks: list[Task], scheduler: str | None = None, n_workers: int | None = None, client=None
) -> Iterator[TaskResult]:
    """Run tasks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler : str | None
        Address of a running scheduler (``tcp://host:8786``).
    n_workers : int | None
        Start a local cluster of this many single-threaded worker processes
        instead.
    client : distributed.Client | None
        A client already connected (:func:`dask_client`); then
        ``scheduler`` and ``n_workers`` are not used.
    """
    from distributed import as_completed as dask_completed

    opened = contextlib.nullcontext(client) if client is not None else _dask_client(scheduler, n_workers)
    with opened as client:
        futures = {}
        for t in tasks:
            fut = client.submit(run_task, t, pure=False, key=f"neurotwin-{t.subject}-{t.session or 'x'}")
            futures[fut] = t
        for fut in dask_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as err:
                yield _lost(futures[fut], err)


def run_calls(
    fn: Callable,
    calls: list[tuple],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    name: str = "call",
    client=None,
) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*args)`` for each ``args`` of ``calls`` where the recordings ran; yield ``(i, result)``
    as each ends.

    The same backends as the recordings' tasks: this process (``jobs=1``),
    ``jobs`` spawned processes, or Dask (``scheduler`` or ``dask_workers``).
    A call whose worker died, or that raised, yields the exception as its
    result (``fn`` should catch what it can itself). ``client``: a Dask
    client already connected (the recordings' own).
    """
    if client is not None or scheduler or dask_workers:
        from distributed import as_completed as dask_completed

        opened = (
            contextlib.nullcontext(client) if client is not None else _dask_client(scheduler, dask_workers)
        )
        with opened as client:
            futures = {
                client.submit(fn, *args, pure=False, key=f"neurotwin-{name}-{i}"): i
                for i, args in enumerate(calls)
            }
            for fut in dask_completed(list(futures)):
                try:
                    yield futures[fut], fut.result()
                except Exception as err:
                    yield futures[fut], err
        return
    if jobs <= 1 or len(calls) <= 1:
        for i, args in enumerate(calls):
            try:
                yield i, fn(*args)
            except Exception as err:
                yield i, err
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(calls)), mp_context=ctx) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        try:
            for fut in as_completed(futures):
                try:
                    yield futures[fut], fut.result()
                except Exception as err:  # the worker died, or fn raised
                    yield futures[fut], err
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
