"""The metrics directory `serve` gives its workers (storage/metric_files.py); the whole
server's /metrics is tested in tests/serving/test_metrics_workers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from passkey_api.kit import metrics
from passkey_api.storage import metric_files


def test_one_worker_keeps_its_metrics_in_the_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An inherited directory, perhaps holding another run's counts, is not used.
    monkeypatch.setenv(metric_files.VARIABLE, str(tmp_path))
    assert metric_files.share_between_workers(1) is None
    assert metric_files.VARIABLE not in os.environ
    assert metric_files.registry(metrics.REGISTRY) is metrics.REGISTRY


def test_workers_get_a_fresh_private_directory_each_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    monkeypatch.delenv(metric_files.VARIABLE, raising=False)
    made = []
    for _ in range(2):
        path = metric_files.share_between_workers(2)
        assert path is not None
        assert os.environ[metric_files.VARIABLE] == str(path)
        assert path.parent == tmp_path
        assert list(path.iterdir()) == []
        assert path.stat().st_mode & 0o077 == 0
        made.append(path)
    assert made[0] != made[1]
    monkeypatch.delenv(metric_files.VARIABLE)
