"""End-to-end generation: where the time goes, and how much the engine itself costs.

Runs real jobs (tiny-wan by default) through the real runner, store and blob store, and prints the
split text / denoise / VAE decode / encode (the MP4, from the codec's setup to its last packet) /
pictures (the thumbnail and spritesheet JPEG encodes) / storage, the wall time from claim to success,
and the engine overhead = wall − (model + encode + pictures): everything that is neither the model
nor a codec (metadata transactions, checkpoints, hashing, blob writes, the seal, the manifest).
Goal: ≤ 5 %. Until session 4 the picture encodes counted as overhead: add the column back to compare.

Each size runs its jobs one after another in one data directory with one runner, as a worker does:
the store is opened once (like the model's weights, it is loaded per worker, not per job). The first
job of a size is a warm-up and is also reported on its own ("cold": fresh store, SQL statements not
yet compiled, codec tables not yet built) — what a one-off `reelserve generate` process pays. The
others use seeds 2, 3, …: a worker's jobs make different content (the same content again is a retry).

    .venv/bin/python -m benchmarks.e2e_bench [--sizes 128x128x17,256x256x17] [--steps 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from reelserve.core.records import GenerationSpec, JobStatus
from reelserve.local import DataDir, open_data_dir
from reelserve.models.registry import load_model
from reelserve.pipeline.manifest import timing_split
from reelserve.pipeline.report import ENCODE_KEYS
from reelserve.pipeline.runner import JobRunner
from reelserve.pipeline.submit import submit_generation


def run_once(dd: DataDir, runner: JobRunner, spec: GenerationSpec) -> dict[str, float]:
    job, _ = submit_generation(dd.store, spec)
    t0 = time.perf_counter()
    claimed = dd.store.claim_job(runner.worker_id, runner.lease_s, job_id=job.id)
    assert claimed is not None
    done = runner.run(claimed)
    wall = time.perf_counter() - t0
    assert done.status is JobStatus.SUCCEEDED, done.error_message
    split = timing_split(dd.store.get_stages(job.id))
    split["wall"] = wall
    split["overhead"] = wall - split["model"] - sum(split.get(k, 0.0) for k in ENCODE_KEYS)
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-wan")
    parser.add_argument("--sizes", default="128x128x17,256x256x17", help="WxHxFRAMES, comma separated")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint-every", type=int, default=2)
    args = parser.parse_args()
    load_model(args.model)  # weights load once per worker; not part of a job
    print(
        f"model={args.model} steps={args.steps} checkpoint_every={args.checkpoint_every} "
        f"repeats={args.repeats} (median)"
    )
    cols = ("text", "denoise", "vae", "encode", "pictures", "storage", "wall", "overhead")
    print(f"{'size':>12} " + " ".join(f"{c:>8}" for c in cols))
    for size in args.sizes.split(","):
        w, h, f = (int(x) for x in size.split("x"))
        spec = GenerationSpec(
            prompt="a red car at night",
            model=args.model,
            width=w,
            height=h,
            num_frames=f,
            steps=args.steps,
            seed=1,
            checkpoint_every=args.checkpoint_every,
        )
        runs = []
        with tempfile.TemporaryDirectory() as tmp, open_data_dir(Path(tmp)) as dd:
            runner = JobRunner(dd.store, dd.blobs)  # one per worker, as `reelserve worker` runs it
            cold = run_once(dd, runner, spec)  # a fresh store: the first job of a worker
            for i in range(args.repeats):  # a worker's jobs differ: the same content twice is a retry
                runs.append(run_once(dd, runner, replace(spec, seed=spec.seed + 1 + i)))
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        share = 100 * med["overhead"] / med["wall"]
        keys = ("text", "denoise", "vae_decode", "encode", "pictures", "io", "wall", "overhead")
        print(
            f"{size:>12} " + " ".join(f"{med.get(k, 0.0):8.3f}" for k in keys) + f"  ({share:.1f}% overhead)"
        )
        print(
            f"{'  cold':>12} "
            + " ".join(f"{cold.get(k, 0.0):8.3f}" for k in keys)
            + f"  ({100 * cold['overhead'] / cold['wall']:.1f}% overhead, first job on a fresh store)"
        )


if __name__ == "__main__":
    main()
