"""/metrics, /healthz and /readyz in process: failures by code, stage and job histograms."""

from __future__ import annotations

import time
from pathlib import Path

from reelserve.api.app import create_app
from reelserve.api.settings import ApiSettings
from reelserve.core.records import JobStatus
from tests.api.conftest import Api


def test_metrics_observe_finished_jobs_and_failures_by_code(api: Api) -> None:
    store = api.services.store
    ok, failed = api.create().json()["id"], api.create().json()["id"]
    store.update_job(ok, timings={"started": time.time(), "generated": time.time(), "encoded": time.time()})
    store.finish_job(ok, JobStatus.SUCCEEDED)
    store.finish_job(failed, JobStatus.FAILED, error_code="model_error", error_message="boom")
    api.services.metrics.tick()
    api.services.metrics.gauges.ttl_s = 0
    text = api.client.get("/metrics").text
    assert 'reelserve_job_failures_total{code="model_error"} 1.0' in text
    assert 'reelserve_job_seconds_count{status="succeeded"} 1.0' in text
    assert 'reelserve_stage_seconds_count{stage="model"} 1.0' in text
    assert 'reelserve_jobs{status="failed"} 1.0' in text and "reelserve_in_flight 0.0" in text
    assert 'reelserve_http_requests_total{method="POST",route="/v1/videos",status="200"}' in text
    api.services.metrics.tick()  # each job is observed once
    assert 'reelserve_job_failures_total{code="model_error"} 1.0' in api.client.get("/metrics").text


class _Workers:
    """A backend whose workers all died."""

    def start(self) -> None: ...

    def stop(self, drain: bool = True) -> None: ...

    def alive(self) -> int:
        return 0


def test_readyz_is_503_without_a_live_worker_and_healthz_stays_up(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    app = create_app(ApiSettings(data_dir=tmp_path), backend=_Workers())
    try:
        client = TestClient(app)
        ready = client.get("/readyz")
        expected = {"status": "not_ready", "queued": 0, "store": "ok", "workers_alive": 0}
        assert ready.status_code == 503 and ready.json() == expected
        assert client.get("/healthz").json() == {"status": "ok"}
    finally:
        app.state.services.close()
