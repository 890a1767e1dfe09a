"""Checkpoints: stage row, artifacts and job progress land together; timings accumulate."""

from __future__ import annotations

import threading

import pytest

from reelserve.core.errors import InvalidInput, NotFound
from reelserve.core.records import Artifact, BlobRef, JobStatus, StageStatus
from reelserve.store import SqlStore


def _artifact(job_id: str, name: str, sha: str, expires_at: float | None = None) -> Artifact:
    area = "durable" if expires_at is None else "scratch"
    blob = BlobRef(sha256=sha, size=3, area=area, path=f"/blobs/{area}/{sha}")
    return Artifact(job_id=job_id, name=name, blob=blob, created_at=1.0, expires_at=expires_at)


@pytest.fixture
def job_id(store: SqlStore) -> str:
    job, _ = store.create_job(project="p", kind="t2v", spec={})
    return job.id


def test_checkpoint_writes_stage_artifacts_and_progress_together(store: SqlStore, job_id: str) -> None:
    video = _artifact(job_id, "video", "a" * 64)
    latents = _artifact(job_id, "latents/s0", "b" * 64, expires_at=100.0)
    record = store.checkpoint(
        job_id,
        "encode",
        0,
        StageStatus.DONE,
        output_sha256="a" * 64,
        state={"frames": 17},
        timings={"encode": 0.5},
        artifacts=[video, latents],
        job_progress=0.9,
    )
    assert record.status is StageStatus.DONE and record.attempt == 1
    assert store.get_stages(job_id) == [record]
    assert store.get_artifacts(job_id) == [latents, video]
    assert store.get_job(job_id).progress == 0.9  # type: ignore[union-attr]


def test_checkpoint_is_all_or_nothing(store: SqlStore, job_id: str) -> None:
    foreign = _artifact("job_other", "video", "c" * 64)
    with pytest.raises(InvalidInput):
        store.checkpoint(job_id, "encode", 0, StageStatus.DONE, artifacts=[foreign], job_progress=0.5)
    assert store.get_stages(job_id) == []
    assert store.get_artifacts(job_id) == []
    assert store.get_job(job_id).progress == 0.0  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.checkpoint("job_missing", "encode", 0, StageStatus.DONE)


def test_timings_add_up_and_state_is_kept_or_replaced(store: SqlStore, job_id: str) -> None:
    store.checkpoint(job_id, "denoise", 0, StageStatus.RUNNING, state={"step": 2}, timings={"model": 1.5})
    mid = store.checkpoint(job_id, "denoise", 0, StageStatus.RUNNING, timings={"model": 1.0, "io": 0.25})
    assert mid.state == {"step": 2}
    assert mid.timings == {"model": 2.5, "io": 0.25}
    assert mid.attempt == 1  # still the first run
    store.checkpoint(job_id, "denoise", 0, StageStatus.FAILED, error_code="model_error")
    rerun = store.checkpoint(job_id, "denoise", 0, StageStatus.RUNNING, state={"step": 4})
    assert rerun.attempt == 2 and rerun.error_code is None and rerun.state == {"step": 4}
    done = store.checkpoint(job_id, "denoise", 0, StageStatus.DONE, timings={"model": 1})
    assert done.timings == {"model": 3.5, "io": 0.25}
    assert store.get_stages(job_id) == [done]


def test_stages_are_keyed_by_stage_and_segment(store: SqlStore, job_id: str) -> None:
    store.checkpoint(job_id, "encode", 1, StageStatus.DONE)
    store.checkpoint(job_id, "encode", 0, StageStatus.DONE)
    store.checkpoint(job_id, "denoise", 0, StageStatus.PENDING)
    rows = store.get_stages(job_id)
    assert [(r.stage, r.segment) for r in rows] == [("denoise", 0), ("encode", 0), ("encode", 1)]
    assert rows[0].attempt == 0


def test_artifact_names_are_upserted(store: SqlStore, job_id: str) -> None:
    older = _artifact(job_id, "video", "1" * 64)
    store.checkpoint(job_id, "encode", 0, StageStatus.RUNNING, artifacts=[older])
    newer = _artifact(job_id, "video", "2" * 64)
    store.checkpoint(job_id, "encode", 0, StageStatus.DONE, artifacts=[newer])
    assert store.get_artifacts(job_id) == [newer]
    assert not store.blob_referenced("1" * 64)
    assert store.blob_referenced("2" * 64)


def test_concurrent_checkpoints_of_one_stage_lose_no_time(store: SqlStore, job_id: str) -> None:
    errors: list[BaseException] = []

    def add() -> None:
        try:
            for _ in range(5):
                store.checkpoint(job_id, "decode", 0, StageStatus.RUNNING, timings={"io": 1.0})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.get_stages(job_id)[0].timings == {"io": 20.0}


def _sync_level(store: SqlStore) -> str:
    """The commit durability a fresh transaction on a pooled connection would get."""
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            return str(conn.execute(sa.text("PRAGMA synchronous")).scalar())  # 2 = FULL
        return str(conn.execute(sa.text("SHOW synchronous_commit")).scalar())


def test_scratch_only_checkpoints_commit_unsynced_and_leave_the_connection_synced(
    store: SqlStore, job_id: str
) -> None:
    """A checkpoint recording only scratch blobs commits without waiting for the disk; that must not
    leak into the next transaction on the same pooled connection, and its writes are all there."""
    before = _sync_level(store)
    assert before in ("2", "on")
    scratch = _artifact(job_id, "ckpt/0", "a" * 64, expires_at=99.0)
    store.checkpoint(job_id, "generate", 0, StageStatus.RUNNING, state={"step": 2}, artifacts=[scratch])
    assert _sync_level(store) == before
    final = Artifact(job_id, "video", BlobRef("b" * 64, 9, "durable", "/x"), 1.0, None)
    store.checkpoint(job_id, "encode", 0, StageStatus.DONE, artifacts=[final], job_timings={"encoded": 5.0})
    assert _sync_level(store) == before
    stages = {r.stage: r for r in store.get_stages(job_id)}
    assert stages["generate"].state == {"step": 2} and stages["encode"].status is StageStatus.DONE
    assert {a.name for a in store.get_artifacts(job_id)} == {"ckpt/0", "video"}
    assert store.get_job(job_id).timings["encoded"] == 5.0  # type: ignore[union-attr]


def test_the_last_checkpoint_can_finish_the_job_in_the_same_transaction(store: SqlStore, job_id: str) -> None:
    claimed = store.claim_job("w1", 30.0, job_id=job_id)
    assert claimed is not None and claimed.lease_owner == "w1"
    manifest = _artifact(job_id, "manifest", "d" * 64)
    store.checkpoint(
        job_id, "finalize", 0, StageStatus.DONE, artifacts=[manifest], job_progress=1.0, finish=True
    )
    job = store.get_job(job_id)
    assert job is not None and job.status.value == "succeeded" and job.progress == 1.0
    assert job.lease_owner is None and job.lease_expires_at is None
    assert job.timings["finished"] >= job.timings["started"]
    assert store.get_stages(job_id)[0].status is StageStatus.DONE


def test_finishing_checkpoint_leaves_a_cancel_standing(store: SqlStore, job_id: str) -> None:
    store.claim_job("w1", 30.0, job_id=job_id)
    store.finish_job(job_id, JobStatus.CANCELLED, error_code="cancelled")
    store.checkpoint(job_id, "finalize", 0, StageStatus.DONE, job_progress=1.0, finish=True)
    job = store.get_job(job_id)
    assert job is not None and job.status.value == "cancelled"
    assert store.get_stages(job_id)[0].status is StageStatus.DONE  # the work done is still recorded
