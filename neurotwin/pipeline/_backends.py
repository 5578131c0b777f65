"""Where tasks run: in this process, in a local process pool, or on Dask.

Every backend calls the same :func:`~._execute.run_task` on the same
:class:`~._execute.Task` objects and yields results as tasks finish.
Outputs are written by the workers themselves, so with Dask the output
folder must be on a file system all workers see (as on an HPC cluster).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from ..errors import ConfigError
from ._execute import Task, TaskResult, run_task


def _lost(task: Task, err: BaseException) -> TaskResult:
    """The result of a task whose worker died (killed, out of memory)."""
    res = TaskResult(task.subject, task.session, status="failed")
    res.recordings = [{"source": r.source, "status": "failed", "executed": [], "cached": [],
                       "error": f"worker lost: {type(err).__name__}: {err}"} for r in task.recordings]
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


def run_dask(tasks: list[Task], scheduler: str | None = None,
             n_workers: int | None = None) -> Iterator[TaskResult]:
    """Run tasks on a Dask distributed cluster.

    Parameters
    ----------
    scheduler : str | None
        Address of a running scheduler (``tcp://host:8786``).
    n_workers : int | None
        Start a local cluster of this many single-threaded worker processes
        instead.
    """
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError("Dask backends need the 'dask' extra: pip install 'neurotwin[dask]'.") from None
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = LocalCluster(n_workers=n_workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")  # any free port: never clash with another cluster
        client = Client(cluster)
    try:
        futures = {}
        for t in tasks:
            fut = client.submit(run_task, t, pure=False, key=f"neurotwin-{t.subject}-{t.session or 'x'}")
            futures[fut] = t
        for fut in dask_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as err:
                yield _lost(futures[fut], err)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
