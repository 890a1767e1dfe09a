"""Several processes on one store, as workers and the CLI run: fresh open, admission, claims."""

from __future__ import annotations

import multiprocessing

from reelserve.store import open_store
from reelserve.store.migrations import MIGRATIONS


def _open_and_admit(url: str) -> str:
    with open_store(url) as store:
        job, _ = store.create_job(project="p", kind="t2v", spec={}, idempotency_key="first")
        return job.id


def _claim_all(url: str, worker: str) -> list[str]:
    with open_store(url) as store:
        claimed = []
        while (job := store.claim_job(worker, 60)) is not None:
            claimed.append(job.id)
        return claimed


def test_processes_share_one_store(store_url: str) -> None:
    # One spawned pool for both phases: process start-up dominates this test's time.
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        # Phase 1: three processes open a store that does not exist yet (concurrent migrations).
        first_ids = pool.map(_open_and_admit, [store_url] * 3)
        assert len(set(first_ids)) == 1
        with open_store(store_url) as store, store.engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version").scalars()
            assert list(versions) == [m.version for m in MIGRATIONS]
            ids = {store.create_job(project="p", kind="t2v", spec={})[0].id for _ in range(30)}
        ids |= set(first_ids)
        # Phase 2: three processes claim concurrently; every job is claimed exactly once.
        batches = pool.starmap(_claim_all, [(store_url, f"proc-{i}") for i in range(3)])
    claimed = [job_id for batch in batches for job_id in batch]
    assert sorted(claimed) == sorted(ids)
