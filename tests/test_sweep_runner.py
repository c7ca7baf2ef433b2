"""sweep.runner: a 2-worker LocalCluster gives the serial run's results byte for byte, in task
order; task errors name the task; progress goes to the callback; bad arguments are refused."""

import hashlib
import os

import numpy as np
import pytest

from sweep import Task, TaskError, run_tasks


def shard_work(seed, n):
    """A task with float work whose bytes depend on every step: BLAS GEMMs, reductions, a
    pure-Python loop, and the worker's process id (to see that two processes took part)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 64)).astype(np.float32)
    b = rng.standard_normal((64, 32)).astype(np.float32)
    y = np.tanh(a @ b) @ b.T
    total = 0.0
    for v in y.ravel()[:500].tolist():
        total = total * 0.5 + v
    return {"y": y, "sum": y.sum(dtype=np.float64), "loop": total, "pid": os.getpid()}


def fail_on(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x * x


def _bytes(results):
    """The results' bytes: array buffers, float64 values (pickle itself is no canonical form: its
    memo depends on object identity)."""
    h = hashlib.sha256()
    for r in results:
        h.update(r["y"].tobytes() + np.float64(r["sum"]).tobytes() + np.float64(r["loop"]).tobytes())
    return h.hexdigest()


def test_two_worker_cluster_equals_serial_byte_for_byte():
    tasks = [Task(f"shard {i}", (1000 + i, 200 + 37 * i)) for i in range(8)]
    lines = []
    serial = run_tasks(shard_work, tasks, scheduler="serial", progress=lines.append)
    dist = run_tasks(shard_work, tasks, n_workers=2, progress=lines.append)
    assert _bytes(dist) == _bytes(serial)
    assert [r["y"].shape[0] for r in dist] == [200 + 37 * i for i in range(8)]   # task order
    assert len({r["pid"] for r in dist}) == 2 and os.getpid() not in {r["pid"] for r in dist}
    assert sum("sweep: [" in line for line in lines) == 16
    assert any("LocalCluster of 2 worker processes" in line for line in lines)
    assert any("[8/8]" in line for line in lines)


@pytest.mark.parametrize("scheduler", ["serial", None])
def test_task_error_names_the_task(scheduler):
    with pytest.raises(TaskError, match=r"task square 3 failed: ValueError: three is not allowed") as e:
        run_tasks(fail_on, [Task(f"square {i}", (i,)) for i in range(5)], scheduler=scheduler,
                  n_workers=2, progress=None)
    assert "fail_on" in e.value.remote_traceback


def test_plain_arguments_and_empty():
    assert run_tasks(fail_on, [0, 1, 2], scheduler="serial", progress=None) == [0, 1, 4]
    assert run_tasks(fail_on, [], progress=None) == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="scheduler must be"):
        run_tasks(fail_on, [1], scheduler="localhost:8786")
    with pytest.raises(ValueError, match="n_workers must be a positive integer"):
        run_tasks(fail_on, [1], n_workers=0)


def test_running_cluster_by_address():
    """scheduler='tcp://...' sends the tasks to a cluster someone else started (here one in
    this process) and leaves it running."""
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        lines = []
        out = run_tasks(fail_on, [Task(f"sq {i}", (i,)) for i in (5, 6)],
                        scheduler=cluster.scheduler_address, progress=lines.append)
        assert out == [25, 36] and "1 workers" in lines[0] and cluster.scheduler_address in lines[0]
        assert run_tasks(fail_on, [7], scheduler=cluster.scheduler_address, progress=None) == [49]


def test_runner_keeps_one_cluster_for_several_waves():
    from sweep import Runner
    lines = []
    with Runner(n_workers=2, progress=lines.append) as r:
        first = r.run(shard_work, [Task(f"a{i}", (i, 50)) for i in range(4)], label="one")
        second = r.run(shard_work, [Task(f"b{i}", (i, 50)) for i in range(4)], label="two")
        assert r.client is not None
    assert r.client is None and r.cluster is None
    assert {x["pid"] for x in first} == {x["pid"] for x in second}
    assert _bytes(first) == _bytes(second)
    assert sum("LocalCluster" in line for line in lines) == 2 and lines[-1].startswith("two: [4/4]")
