"""Thread defaults and the throughput-collapse warning."""

import pytest

from seqgen.training import threads as machine
from seqgen.training.threads import ThroughputWatch


def test_collapse_is_reported_once_then_rearmed_after_recovery():
    watch = ThroughputWatch(threads=2)
    assert [watch.add(r) for r in (500, 9000, 10000, 10200, 9800)] == [None] * 5  # warm-up rows only set the baseline
    warning = watch.add(900)
    assert warning is not None and "fell to 9%" in warning and "try --threads 1" in warning
    assert watch.collapsed
    assert watch.add(800) is None  # said once per collapse
    assert watch.add(9900) is None and not watch.collapsed  # recovered
    assert watch.add(1000) is not None  # a new collapse is reported again


def test_no_threads_hint_with_one_thread():
    watch = ThroughputWatch(threads=1, warmup=0)
    for r in (100, 100, 100):
        watch.add(r)
    assert "--threads" not in watch.add(10)


def test_cgroup_quota(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    for text, cpus in (("max 100000", None), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)):
        cpu_max.write_text(text)
        assert machine._cgroup_quota(cpu_max) == cpus


@pytest.mark.parametrize("env, expected", [({"OMP_NUM_THREADS": "3"}, None), ({"LOCAL_WORLD_SIZE": "2"}, "half"), ({}, "all")])
def test_default_threads(monkeypatch, env, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(machine, "physical_cores", lambda: 8)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert machine.default_threads() == {None: None, "half": 4, "all": 8}[expected]


def test_physical_cores_fold_hyperthreads(monkeypatch):
    monkeypatch.setattr(machine, "allowed_cpus", lambda: {0, 1, 2, 3})
    monkeypatch.setattr(machine, "_core_of", lambda cpu: ("0", str(cpu // 2)))  # two threads per core
    monkeypatch.setattr(machine, "_cgroup_quota", lambda: None)
    assert machine.physical_cores() == 2
    monkeypatch.setattr(machine, "_cgroup_quota", lambda: 1)
    assert machine.physical_cores() == 1
