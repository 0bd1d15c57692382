"""The cluster: connecting (or starting a local one), keeping Dask quiet, and computing a graph
while watching for lost workers."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...errors import ClusterError, InputError, UsageError, mention


EXTRA = "pip install 'siamcli[dask]'"


ZARR_EXTRA = "pip install 'siamcli[zarr]'"


DEFAULT_LOCAL_WORKERS = 2


#: Seconds a run waits while its cluster has no worker at all before it fails.
NO_WORKERS_TIMEOUT = 30.0


#: The environment variable that changes NO_WORKERS_TIMEOUT (seconds).
NO_WORKERS_ENV = "SIAMCLI_NO_WORKERS_TIMEOUT"


#: Seconds between two looks at a running cluster (are there workers? has a task failed?).
_POLL_SECONDS = 0.5


#: The loggers of Dask and of what it runs on, silenced unless --debug.
_DASK_LOGGERS = ("distributed", "dask", "tornado", "asyncio", "bokeh")


#: The warnings they raise: by the module that warns, or (raised at the caller) by message.
_DASK_MODULES = r"(dask|distributed|tornado|bokeh|zarr)(\.|$)"


_DASK_MESSAGES = r"Sending large graph|Port \d+ is already in use|Creating scratch directories"


#: A key of the Dask config a local cluster hands to its workers: silence their logs.
_QUIET_KEY = "siamcli-quiet-workers"


@dataclass
class RunStats:
    """What one distributed run did: tasks in its graph and bytes of results sent to the client."""

    tasks: int = 0
    received_bytes: int = 0


def require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"running on a Dask cluster needs Dask: {EXTRA}") from None


def require_zarr() -> None:
    try:
        import zarr  # noqa: F401
    except ImportError:
        raise UsageError(f"a .zarr array needs zarr: {ZARR_EXTRA}") from None


def no_workers_timeout() -> float:
    """Seconds a run may go on without any worker before it fails: $SIAMCLI_NO_WORKERS_TIMEOUT,
    else NO_WORKERS_TIMEOUT (30)."""
    text = os.environ.get(NO_WORKERS_ENV, "").strip()
    if not text:
        return NO_WORKERS_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise UsageError(f"${NO_WORKERS_ENV} must be a number of seconds > 0, got '{text}'")
    return seconds


def connect(address: str | None = "local", timeout: float = 10.0, *, quiet: bool = False):
    """A dask.distributed Client: "local" or "local:N" starts a LocalCluster of N worker
    processes (default 2, one thread each) on this machine; anything else is a scheduler
    address such as tcp://host:8786, reached within `timeout` seconds. Local workers are new
    processes: a script that starts them needs the `if __name__ == "__main__":` guard; they
    ignore Ctrl-C (closing the client stops them) and, with `quiet`, log nothing.

    A scheduler is trusted like code: Dask sends pickled functions and data both ways, so the
    scheduler (or anyone who can reach its port) can run code in this process and on the workers."""
    require_dask()
    from distributed import Client

    address = address or "local"
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2] or str(DEFAULT_LOCAL_WORKERS)
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"{mention('scheduler')} local:N needs a number of workers N >= 1, got '{address}'")
        # the client owns the cluster it starts: closing the client stops the workers. Each worker
        # runs dask_setup below first (a preload); `config` reaches it, and restarted workers too.
        import dask

        try:
            # the scheduler fails tasks once it has had no worker for that long: reads that
            # engine.prepare makes outside _compute's watch (see _prepare_lazy)
            wait = {"distributed.scheduler.no-workers-timeout": f"{no_workers_timeout()}s"}
            with _sigint_deferred() as pressed, dask.config.set(wait):
                _fork_server_ignoring_sigint()
                # the scheduler listens on loopback only (Dask's default); so does its HTTP server (the
                # dashboard, with bokeh): on a free port, since None still binds 8787 on every interface
                # and a second run at the same time met "Port 8787 is already in use"
                client = Client(n_workers=int(count), threads_per_worker=1, processes=True,
                                dashboard_address="127.0.0.1:0",
                                silence_logs=logging.CRITICAL if quiet else logging.WARNING,
                                preload=[__name__], config={_QUIET_KEY: quiet})
                if pressed:
                    client.close()
            return client
        except RuntimeError as exc:  # "Nanny failed to start": a worker process died as it started
            raise ClusterError(f"the local Dask cluster ({address}) did not start: {exc}") from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _fork_server_ignoring_sigint() -> None:
    """Makes Dask fork local workers from multiprocessing's fork server (unless this process chose
    another way than Dask's default, spawn), started here with SIGINT ignored: it keeps ignoring
    it, and so does every worker it forks, from its first instruction (a spawned worker takes
    Ctrl-C while it imports, with a traceback); and a restarted worker is up in a moment, its
    modules already imported. (A press in the few milliseconds it takes to start is lost.)"""
    import multiprocessing
    import signal
    import threading

    import dask
    from distributed.utils import get_mp_context

    method = "distributed.worker.multiprocessing-method"
    if dask.config.get(method) != "spawn" or "forkserver" not in multiprocessing.get_all_start_methods():
        return  # (Windows has no fork server)
    from multiprocessing import forkserver

    dask.config.set({method: "forkserver"})  # for this process: restarted workers too
    get_mp_context()  # Dask's modules to preload in the server, which its workers then share
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _sigint_deferred():
    """Within: Ctrl-C waits (the list yielded says whether it came). A local cluster interrupted as
    it starts is left half made, and Dask can neither use nor close it (a traceback at exit, a
    worker left running); so the interrupt is delivered on the way out, once the client is made
    and closed again."""
    import signal
    import threading

    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only there can handlers be set
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)
        if pressed:
            signal.raise_signal(signal.SIGINT)  # to the handler there was: KeyboardInterrupt by default


def dask_setup(worker) -> None:
    """Prepares each worker process of a cluster `connect` starts (Dask runs it: a preload).
    Ctrl-C in a terminal reaches the whole process group, workers included, but only the client
    answers it (closing the cluster): a worker ignores SIGINT, so it prints no traceback; and
    without --debug it logs nothing."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():  # where a handler can be set
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    import dask

    if dask.config.get(_QUIET_KEY, default=False):
        _silence_dask()


def _silence_dask() -> list:
    """Silences Dask's loggers and warnings in this process; returns what to restore. Each logger
    is silenced, not only the top ones: Dask gives some their own levels (distributed.client)."""
    names = [name for name in logging.root.manager.loggerDict
             if name.split(".")[0] in _DASK_LOGGERS] + list(_DASK_LOGGERS)
    saved = [(name, logging.getLogger(name).level) for name in dict.fromkeys(names)]
    for name, _ in saved:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings("ignore", module=_DASK_MODULES)
    warnings.filterwarnings("ignore", message=_DASK_MESSAGES)
    return saved


@contextlib.contextmanager
def quiet_dask(quiet: bool = True):
    """Within: Dask's logs and warnings in this process (the client's, and the scheduler's and
    nannies' of a local cluster) are silenced, with `quiet`; siamcli's own messages stay."""
    if not quiet:
        yield
        return
    with warnings.catch_warnings():
        saved = _silence_dask()
        try:
            yield
        finally:
            for name, level in saved:
                logging.getLogger(name).setLevel(level)


def _compute(client, graph: list, stats: RunStats | None, on_submit: Callable[[list], None] | None = None) -> list:
    """Results of Delayed objects computed on the cluster (Dask retries tasks of a lost worker).
    `on_submit(futures)` is called once they run, e.g. to show Dask's progress on stderr.
    Fails (ClusterError) when the cluster has no worker for no_workers_timeout() seconds, or when
    workers died running one task too often; the futures are released when it fails."""
    with warnings.catch_warnings():
        # in-memory inputs are placed in the graph on purpose (see _blocks): Dask's advice to load
        # them with Dask is what shards do
        warnings.filterwarnings("ignore", message="Sending large graph")
        futures = client.compute(graph)
    address = _address(client)
    try:
        if on_submit is not None:
            on_submit(futures)
        _wait_while_workers(client, futures, no_workers_timeout())
        found = client.gather(futures)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # a broken connection: closing the client releases them
            client.cancel(futures)
        failure = _cluster_failure(exc, address)
        if failure is not None:
            raise ClusterError(failure) from None
        raise
    if stats is not None:
        tasks = {}
        for part in graph:
            tasks.update(dict(part.__dask_graph__()))
        stats.tasks = len(tasks)
        stats.received_bytes = sum(np.asarray(x).nbytes for r in found for x in (r if isinstance(r, tuple) else (r,)))
    return found


def _wait_while_workers(client, futures: list, timeout: float, clock=time.monotonic) -> None:
    """Returns once every future is finished or one has failed; raises ClusterError once the
    cluster has had no worker for `timeout` seconds (Dask would wait for one forever)."""
    import asyncio

    from distributed import wait

    pending, alone_since = list(futures), None
    while pending:
        try:
            with client.as_current():
                wait(pending, timeout=_POLL_SECONDS)
            return
        except (TimeoutError, asyncio.TimeoutError):
            pass
        if any(f.status == "error" for f in pending):
            return  # gather raises it
        pending = [f for f in pending if not f.done()]
        if _worker_count(client) > 0:
            alone_since = None
        elif alone_since is None:
            alone_since = clock()
        elif clock() - alone_since >= timeout:
            raise ClusterError(_no_workers_message(_address(client), timeout))


def _worker_count(client) -> int:
    """The workers the scheduler knows (0 when it cannot be asked)."""
    try:
        info = client.scheduler_info(n_workers=0)
    except TypeError:  # older distributed: no n_workers
        info = client.scheduler_info()
    except (OSError, TimeoutError):
        return 0
    return int(info.get("n_workers", len(info.get("workers", ()))))


def _address(client) -> str:
    return getattr(client.scheduler, "address", None) or "?"


def _no_workers_message(address: str, timeout: float) -> str:
    return (f"the Dask cluster at {address} has had no workers for {timeout:g} s: its workers died, or "
            f"none reached the scheduler (${NO_WORKERS_ENV} sets this wait)")


def _cluster_failure(exc: BaseException, address: str) -> str | None:
    """What went wrong, when `exc` is the cluster failing rather than siamcli or its input."""
    from dask.utils import key_split
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError

    if type(exc).__name__ in ("NoWorkerError", "NoValidWorkerError"):  # the scheduler's no-workers-timeout
        return _no_workers_message(address, no_workers_timeout())
    if isinstance(exc, KilledWorker):
        tries = getattr(exc, "allowed_failures", None)
        times = f"{tries + 1} time{'s' if tries else ''} " if isinstance(tries, int) else ""
        return (f"workers of the Dask cluster at {address} died {times}while running {key_split(exc.task)} "
                f"(killed, or out of memory: try a smaller {mention('memory')}, or workers with more memory)")
    groups = getattr(exc, "error_groups", None)  # FuturesCancelledError (newer Dask)
    if isinstance(exc, FutureCancelledError) or groups is not None:
        reasons = sorted({g.reason for g in groups} if groups is not None else {exc.reason})
        if "scheduler-connection-lost" in reasons:
            return f"lost the connection to the Dask scheduler at {address} (it stopped, or the network failed)"
        return f"the Dask scheduler at {address} cancelled the run ({', '.join(reasons)})"
    return None


#: After a failed or interrupted write, how long to wait for the workers' running tasks to end
#: before the temporary they write into is removed (a task is one block: seconds at most).
WRITERS_STOP_SECONDS = 60.0


def _executing_keys(dask_worker) -> list:
    """The keys of the tasks a worker is running now, cancelled ones included (run by client.run)."""
    state = dask_worker.state
    return [ts.key for ts in (*getattr(state, "executing", ()), *getattr(state, "long_running", ()))]


def _compute_writes(client, graph: list, stats: RunStats | None, on_submit) -> list:
    """_compute for tasks that write into a temporary file or folder. On failure (or a signal)
    the rest are cancelled, and this returns only once no worker still runs one (Dask cannot stop
    a running task): none writes after the temporary is removed (a zarr chunk write would make
    its folders again)."""
    import time

    submitted = []

    def keep(futures):
        submitted.extend(futures)
        if on_submit is not None:
            on_submit(futures)

    try:
        return _compute(client, graph, stats, keep)
    except BaseException:
        keys = {f.key for f in submitted}
        deadline = time.monotonic() + WRITERS_STOP_SECONDS
        try:
            client.cancel(submitted)
            while keys and time.monotonic() < deadline:
                running = client.run(_executing_keys)
                if not keys.intersection(k for found in running.values() for k in found):
                    break
                time.sleep(0.05)
        except Exception:  # the cluster is gone: so are its tasks
            pass
        raise
