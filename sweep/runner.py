r"""run_tasks: map a function over a list of tasks on dask.distributed, results in task order.

    results[i] = fn(*tasks[i].args, **tasks[i].kwargs)      for i = 0..len(tasks)-1

Where the tasks run (``scheduler``):

* ``None`` (default) -- an in-process ``LocalCluster`` started for this call and shut down after
  it: ``n_workers`` worker *processes* (default: the CPUs this process may use), one thread each.
  Processes, not threads: the tasks mix NumPy/BLAS with long stretches of pure Python (golden
  functions, onnx's reference evaluator) that hold the GIL, so threads would serialize; a worker
  process that dies (out of memory) is restarted and its task rescheduled by dask instead of
  taking the caller down. Random ports (the HTTP server's too): several sweeps may run side by
  side on one machine. Workers are started with ``spawn``: a script that calls run_tasks needs
  the usual ``if __name__ == "__main__":`` guard (the ``approxmac`` command has it).
* ``"tcp://HOST:PORT"`` -- a running cluster (``dask scheduler`` and ``dask worker
  tcp://HOST:PORT``); its workers must be able to import ``fn``'s module (same project checkout
  or installed package). The cluster is left running.
* ``"serial"`` -- a plain loop in this process (no dask): the reference the distributed runs are
  checked against, and the easiest to debug.

Every task runs with one BLAS / OpenMP thread (threadpoolctl), wherever it runs: OpenBLAS's
multi-threaded sgemm sums in another order than its one-thread kernel (measured: other float32
bits), so this is what makes a task's result independent of where it ran -- serial, a local or a
remote cluster give the same bytes -- and n workers use n cores.

:class:`Runner` keeps one cluster open for several waves of tasks (a wave may need the
results of the one before).

A task's exception stops the run with :class:`TaskError` naming the task and carrying the
worker's traceback; the other tasks are cancelled. Progress lines go to ``progress`` (default:
stderr), one per finished task, in completion order: ``label: [k/N] task (its seconds), wall
time so far, ETA`` (the remaining tasks at the mean pace so far).
"""

import os
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field

SERIAL = "serial"


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args, **kwargs)``, called ``name`` in progress and errors."""
    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


class TaskError(RuntimeError):
    """A task raised. Attributes: ``task`` (its name), ``error`` (the exception's type name and
    message), ``remote_traceback`` (the traceback text where it ran)."""

    def __init__(self, task, error, remote_traceback=""):
        super().__init__(f"task {task} failed: {error}")
        self.task, self.error, self.remote_traceback = task, error, remote_traceback


def _stderr(line):
    print(line, file=sys.stderr, flush=True)


def default_workers():
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:            # not Linux
        return os.cpu_count() or 1


def _call(fn, task):
    """Runs on the worker: ('ok', result, seconds) or ('error', message, traceback). Errors are
    returned, not raised, so that any exception (even an unpicklable one) reaches the caller."""
    from threadpoolctl import threadpool_limits
    t0 = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            return "ok", fn(*task.args, **task.kwargs), time.perf_counter() - t0
    except Exception as e:
        return "error", f"{type(e).__name__}: {e}", traceback.format_exc()


def _as_task(i, t):
    return t if isinstance(t, Task) else Task(f"task {i}", (t,))


def _check(scheduler, n_workers):
    if scheduler is not None and scheduler != SERIAL and not str(scheduler).startswith(
            ("tcp://", "tls://", "inproc://", "ucx://")):
        raise ValueError(f"scheduler must be None, 'serial' or tcp://HOST:PORT; got {scheduler!r}")
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int)
                                  or n_workers < 1):
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")


class Runner:
    """Where tasks run, kept open for several waves of tasks (one cluster start for all).

    ``with Runner(scheduler, n_workers, progress) as r: r.run(fn, tasks, label)``; the cluster
    (scheduler None) starts at the first wave that has tasks and closes at the end of the
    ``with``. Parameters as :func:`run_tasks`.
    """

    def __init__(self, scheduler=None, n_workers=None, progress=_stderr):
        _check(scheduler, n_workers)
        self.scheduler, self.n_workers = scheduler, n_workers or default_workers()
        self.say = progress or (lambda line: None)
        self.cluster = self.client = None
        self.where = "serial in this process"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def _connect(self):
        import logging

        from distributed import Client, LocalCluster
        if self.scheduler is None:
            self.cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                        processes=True, dashboard_address=":0",
                                        silence_logs=logging.ERROR)
            self.where = f"a LocalCluster of {self.n_workers} worker processes"
            self.client = Client(self.cluster)
        else:
            self.client = Client(self.scheduler)
            self.where = (f"the cluster at {self.scheduler} "
                          f"({len(self.client.scheduler_info()['workers'])} workers)")

    def run(self, fn, tasks, label="sweep"):
        """[fn(task) for task in tasks] (see :func:`run_tasks`)."""
        tasks = [_as_task(i, t) for i, t in enumerate(tasks)]
        if not tasks:
            return []
        if self.scheduler == SERIAL:
            self.say(f"{label}: {len(tasks)} tasks, {self.where}")
            t0 = time.perf_counter()
            return [_finish(_call(fn, t), t, done, len(tasks), self.say, label, t0)
                    for done, t in enumerate(tasks, 1)]
        if self.client is None:
            self._connect()
        self.say(f"{label}: {len(tasks)} tasks on {self.where}")
        return _run_dask(self.client, fn, tasks, self.say, label)


def run_tasks(fn, tasks, scheduler=None, n_workers=None, progress=_stderr, label="sweep"):
    """[fn(task) for task in tasks], on dask.distributed (see the module docstring).

    Parameters
    ----------
    fn : callable
        A module-level function (workers import it by name).
    tasks : list of Task, or of single arguments (then task i is called ``task i``)
    scheduler : None, "serial" or "tcp://HOST:PORT"
    n_workers : int, optional
        LocalCluster workers (scheduler None only); default :func:`default_workers`.
    progress : callable(str) or None
        Receives one line at the start and one per finished task.
    label : str
        Prefix of the progress lines.

    Returns
    -------
    list
        The results, in the order of ``tasks``.

    Raises
    ------
    TaskError
        When a task raises (the first to finish with an error).
    ValueError
        For a bad ``scheduler`` or ``n_workers``.
    """
    with Runner(scheduler, n_workers, progress) as runner:
        return runner.run(fn, tasks, label)


def _finish(outcome, task, done, total, say, label, t0=None):
    if outcome[0] == "error":
        raise TaskError(task.name, outcome[1], outcome[2])
    pace = ""
    if t0 is not None:
        wall = time.perf_counter() - t0
        pace = (f", {_clock(wall)} elapsed, ETA {_clock(wall / done * (total - done))}"
                if done < total else f", all done in {_clock(wall)}")
    say(f"{label}: [{done}/{total}] {task.name} ({outcome[2]:.1f} s){pace}")
    return outcome[1]


def _clock(seconds):
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def _run_dask(client, fn, tasks, say, label):
    from distributed import as_completed
    run = uuid.uuid4().hex[:8]          # keys unique on a shared cluster
    futures = [client.submit(_call, fn, t, key=f"{label}-{run}-{i}", pure=False)
               for i, t in enumerate(tasks)]
    index = {f.key: i for i, f in enumerate(futures)}
    results = [None] * len(tasks)
    t0 = time.perf_counter()
    try:
        for done, fut in enumerate(as_completed(futures), 1):
            i = index[fut.key]
            try:
                outcome = fut.result()
            except Exception as e:      # the worker died (KilledWorker), a lost connection
                raise TaskError(tasks[i].name, f"{type(e).__name__}: {e}") from e
            results[i] = _finish(outcome, tasks[i], done, len(tasks), say, label, t0)
    except BaseException:
        client.cancel(futures)
        raise
    return results
