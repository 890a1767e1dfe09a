"""Text-to-video: generate (per frame-range segment) → encode → finalize (thumbnail, manifest, copy)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from reelserve.core.errors import NotFound, StorageError
from reelserve.core.records import Artifact, BlobRef, StageStatus
from reelserve.media.codecs import EncodeSettings
from reelserve.media.encode import VideoWriter
from reelserve.media.thumbs import FrameSampler, Spritesheet, spritesheet, thumbnail
from reelserve.models.catalog import get_card
from reelserve.pipeline.context import IntermediateLost, StageContext
from reelserve.pipeline.generate import run_generate_segment
from reelserve.pipeline.jobkinds import StageDef, register_kind
from reelserve.pipeline.manifest import build_manifest
from reelserve.pipeline.plan import Segment, plan_segments

__all__ = ["SPRITE_TILES", "segments_of"]

SPRITE_TILES = 16  #: tiles in a clip's spritesheet (fewer for a clip with fewer frames)


def segments_of(ctx: StageContext) -> list[Segment]:
    spec = ctx.spec
    card = get_card(spec.model)
    seg_frames = spec.segment_frames or card.max_frames
    return plan_segments(spec.num_frames, seg_frames, card.vae_temporal)


def _generate(ctx: StageContext, segment: int) -> None:
    plan = segments_of(ctx)
    run_generate_segment(ctx, plan[segment], len(plan))


def _encode(ctx: StageContext, segment: int) -> None:
    """Stream every segment's frames through one encoder into the durable area."""
    spec = ctx.spec
    settings = EncodeSettings(codec=spec.codec, crf=spec.crf, preset=spec.preset)
    ctx.progress.stage_started("encode", spec.num_frames)
    frames_hash = hashlib.sha256()
    # The thumbnail and spritesheet come from the frames passing through, not from decoding the MP4.
    pictures = FrameSampler(spec.num_frames, spec.fps, count=min(SPRITE_TILES, spec.num_frames))
    plan = segments_of(ctx)
    n_segments = len(plan)
    t_io = 0.0
    written = 0
    # The MP4 and its two pictures are not fsynced here: finalize seals them together with the
    # manifest, right before the one synced commit that makes the job succeeded.
    with ctx.blobs.unsynced():
        with ctx.blobs.open_writer("durable", suffix=".mp4") as out:
            t_open = time.perf_counter()
            writer = VideoWriter(out.path, spec.width, spec.height, spec.fps, settings).open()
            t_enc = time.perf_counter() - t_open  # the codec's setup is encode time too
            for seg in plan:
                ctx.check()
                t0 = time.perf_counter()
                frames = ctx.load_intermediate(f"frames/{seg.index}", "generate", seg.index)
                pictures.offer(written, frames)
                t1 = time.perf_counter()
                if n_segments > 1:
                    frames_hash.update(frames.data)
                writer.write(frames)
                t_enc += time.perf_counter() - t1
                t_io += t1 - t0
                written += int(frames.shape[0])
                ctx.progress.advance("encode", written)
            t2 = time.perf_counter()
            result = writer.close()
            t3 = time.perf_counter()
        sheet = pictures.spritesheet()
        jpegs = (("thumbnail", pictures.thumbnail()), ("spritesheet", sheet.jpeg))
        t4 = time.perf_counter()  # the two JPEG encodes: the job's picture outputs, timed apart
        thumb, sprites = (
            ctx.artifact(name, ctx.blobs.put_bytes(data, "durable", ".jpg"), final=True)
            for name, data in jpegs
        )
    t_enc += t3 - t2
    # Finalize seals these before the job's one synced commit; their flush can start now, while the
    # encode checkpoint commits and finalize builds the manifest.
    ctx.blobs.presync([out.ref, thumb.blob, sprites.blob])
    t_io += time.perf_counter() - t4
    gen = ctx.record("generate", 0)
    one_segment = n_segments == 1 and gen is not None and "frames_sha256" in gen.state
    ctx.progress.stage_finished("encode")
    ctx.checkpoint(
        "encode",
        segment,
        StageStatus.DONE,
        output_sha256=out.ref.sha256,
        state={
            "frames": written,
            # One segment: its recorded hash is the hash of these (verified) frames already.
            "frames_sha256": gen.state["frames_sha256"] if one_segment and gen else frames_hash.hexdigest(),
            "encoder": result.encoder,
            "fallback_reason": result.fallback_reason,
            "bytes": result.bytes,
            "spritesheet": _grid_of(sheet),
        },
        timings={"encode": t_enc, "pictures": t4 - t3, "io": t_io},
        artifacts=[ctx.artifact("video", out.ref, final=True), thumb, sprites],
        job_progress=0.97,
        job_timings=ctx.job_stamp(),
        sync=False,  # like an intermediate until finalize seals the finals (docs/durability.md §3)
    )


def _grid_of(sheet: Spritesheet) -> dict[str, int]:
    return {
        "columns": sheet.columns,
        "rows": sheet.rows,
        "tile_width": sheet.tile_width,
        "tile_height": sheet.tile_height,
    }


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{int(time.time() * 1e6)}.part")
    try:
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)


def _pictures(ctx: StageContext, video_path: Path) -> tuple[dict[str, Artifact], dict[str, int]]:
    """The thumbnail and spritesheet the encode stage made — or, for a job encoded before the encode
    stage made them, decoded from the video now."""
    arts = ctx.artifacts()
    enc = ctx.record("encode", 0)
    grid = None if enc is None else enc.state.get("spritesheet")
    if grid is not None and "thumbnail" in arts and "spritesheet" in arts:
        return {"thumbnail": arts["thumbnail"], "spritesheet": arts["spritesheet"]}, grid
    sheet = spritesheet(video_path, count=min(SPRITE_TILES, ctx.spec.num_frames))
    made = {
        name: ctx.artifact(name, ctx.blobs.put_bytes(data, "durable", suffix=".jpg"), final=True)
        for name, data in (("thumbnail", thumbnail(video_path)), ("spritesheet", sheet.jpeg))
    }
    return made, _grid_of(sheet)


def _finalize(ctx: StageContext, segment: int) -> None:
    from reelserve.models.registry import load_model

    t0 = time.perf_counter()
    video = ctx.find_artifact("video")
    enc = ctx.record("encode", 0)
    if video is None or enc is None:
        raise RuntimeError(f"job {ctx.job.id} reached finalize without an encoded video")
    video_path = ctx.blobs.path(video.blob)
    outputs: dict[str, dict[str, Any]] = {"video": _describe(video.blob)}
    pictures, grid = _pictures(ctx, video_path)
    arts = [video, *pictures.values()]
    for name, art in pictures.items():
        outputs[name] = _describe(art.blob)
    outputs["spritesheet"].update(grid)
    spec = ctx.spec
    model = load_model(spec.model, None if spec.weights is None else Path(spec.weights), ctx.device)
    manifest = build_manifest(
        ctx.job,  # as claimed, with the stamps this run's checkpoints wrote (`StageContext.checkpoint`)
        sorted(ctx.records.values(), key=lambda r: (r.stage, r.segment)),
        weights_hash=model.weights_hash,
        outputs=outputs,
        frames_sha256=enc.state["frames_sha256"],
        encoder={
            "name": enc.state["encoder"],
            "codec": spec.codec,
            "crf": spec.crf,
            "preset": spec.preset,
            "fallback_reason": enc.state.get("fallback_reason"),
        },
    )
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    with ctx.blobs.unsynced():
        mref = ctx.blobs.put_bytes(body, "durable", ".json")
    arts.append(ctx.artifact("manifest", mref, final=True))
    _seal(ctx, [a.blob for a in arts])
    if ctx.job.output_path:
        out = Path(ctx.job.output_path)
        _copy_atomic(video_path, out)
        _copy_atomic(ctx.blobs.path(mref), out.with_suffix(".manifest.json"))
    ctx.checkpoint(
        "finalize",
        segment,
        StageStatus.DONE,
        output_sha256=mref.sha256,
        state={"manifest": mref.sha256},
        timings={"io": time.perf_counter() - t0},
        artifacts=arts[1:],
        job_progress=1.0,
        finish=ctx.finishes(),
    )


def _seal(ctx: StageContext, refs: list[BlobRef]) -> None:
    """Verify and fsync every final of the job at once, before the commit that records it done.
    The encode stage wrote its finals unsynced and committed without waiting for the disk, so after
    an OS crash one may be lost or cut short: then the encode stage runs again (same frames, same
    bytes), exactly as for a lost intermediate."""
    try:
        ctx.blobs.seal(refs)
    except (NotFound, StorageError) as exc:
        message = f"a final of job {ctx.job.id} is lost ({exc}); encode runs again"
        raise IntermediateLost(message, stage="encode", segment=0) from exc


def _describe(ref: Any) -> dict[str, Any]:
    return {"sha256": ref.sha256, "bytes": ref.size}


register_kind(
    "t2v",
    [
        StageDef("generate", lambda ctx: len(segments_of(ctx)), _generate, stamp="generated"),
        StageDef("encode", lambda ctx: 1, _encode, stamp="encoded"),
        StageDef("finalize", lambda ctx: 1, _finalize),
    ],
)
