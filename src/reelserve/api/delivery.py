"""How a finished video travels: ``reference``, ``blob``, ``stream`` (fMP4) or ``raw`` (uint8 frames).

``delivered`` is stamped on the job (first delivery only) by a background task that Starlette runs
after the last byte of the response body was sent; a response cut short stamps nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import numpy as np
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response, StreamingResponse

from reelserve.api.schemas import ContentRef
from reelserve.core.errors import InvalidInput, NotFound
from reelserve.core.records import Artifact, Job
from reelserve.store.base import BlobStore, Store

__all__ = ["Delivery", "Variant", "deliver", "frames_of"]

_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg", "spritesheet": "image/jpeg"}


class Variant(StrEnum):
    VIDEO = "video"
    THUMBNAIL = "thumbnail"
    SPRITESHEET = "spritesheet"


class Delivery(StrEnum):
    BLOB = "blob"  #: the file's bytes (the OpenAI SDK's download_content)
    REFERENCE = "reference"  #: JSON: a URL plus sha256 and size
    STREAM = "stream"  #: fragmented MP4: an init segment, then one moof+mdat per chunk of frames
    RAW = "raw"  #: uint8 RGB frames, T×H×W×3, row-major, no container


def _stamp(store: Store, job_id: str) -> BackgroundTask:
    def stamp() -> None:
        job = store.get_job(job_id)
        if job is not None and "delivered" not in job.timings:
            store.update_job(job_id, timings={"delivered": time.time()})

    return BackgroundTask(stamp)


def frames_of(store: Store, blobs: BlobStore, job: Job, video: Artifact) -> Iterator[np.ndarray]:
    """The job's frames, (h, w, 3) uint8 each: the exact generated frames while their scratch blobs
    live, else decoded from the final MP4."""
    arts = {a.name: a for a in store.get_artifacts(job.id)}
    segments = sorted((n for n in arts if n.startswith("frames/")), key=lambda n: int(n.split("/")[1]))
    if segments and all(blobs.exists(arts[n].blob) for n in segments):
        import io

        for name in segments:
            yield from np.load(io.BytesIO(blobs.get_bytes(arts[name].blob)), allow_pickle=False)
        return
    from reelserve.media.decode import decode_frames

    for frame in decode_frames(blobs.path(video.blob)):
        yield frame.rgb


def _fmp4(frames: Iterator[np.ndarray], job: Job, chunk: int) -> Iterator[bytes]:
    from reelserve.media.codecs import EncodeSettings
    from reelserve.media.fmp4 import FragmentedEncoder

    spec = job.spec
    enc = FragmentedEncoder(
        int(spec["width"]), int(spec["height"]), int(spec.get("fps", 16)), EncodeSettings(faststart=False)
    )
    yield enc.init_segment()
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == chunk:
            yield enc.encode_chunk(np.stack(batch))
            batch = []
    if batch:
        yield enc.encode_chunk(np.stack(batch))


def _raw(frames: Iterator[np.ndarray]) -> Iterator[bytes]:
    for frame in frames:
        yield np.ascontiguousarray(frame, dtype=np.uint8).tobytes()


def deliver(
    store: Store,
    blobs: BlobStore,
    job: Job,
    artifact: Artifact,
    *,
    variant: Variant,
    mode: Delivery,
    base_url: str,
    stream_chunk_frames: int,
) -> Response:
    if variant is not Variant.VIDEO and mode in (Delivery.STREAM, Delivery.RAW):
        raise InvalidInput(f"delivery={mode.value} is for variant=video only", param="delivery")
    path = blobs.path(artifact.blob)
    if not path.is_file():
        raise NotFound(f"the {variant.value} of {job.id} is missing from the blob store", param="video_id")
    media_type = _TYPES[variant.value]
    headers = {"X-Reelserve-Sha256": artifact.blob.sha256}
    background = _stamp(store, job.id) if variant is Variant.VIDEO else None
    if mode is Delivery.REFERENCE:
        url = f"{base_url.rstrip('/')}/v1/videos/{job.id}/content?variant={variant.value}&delivery=blob"
        ref = ContentRef(
            url=url, sha256=artifact.blob.sha256, bytes=artifact.blob.size, content_type=media_type
        )
        return Response(ref.model_dump_json(), media_type="application/json")
    if mode is Delivery.BLOB:
        return FileResponse(path, media_type=media_type, headers=headers, background=background)
    spec: dict[str, Any] = job.spec
    frames = frames_of(store, blobs, job, artifact)
    if mode is Delivery.STREAM:
        body = _fmp4(frames, job, stream_chunk_frames)
        return StreamingResponse(body, media_type="video/mp4", background=background)
    shape = f"{spec['num_frames']},{spec['height']},{spec['width']},3"
    raw_headers = {"X-Reelserve-Frame-Shape": shape, "X-Reelserve-Dtype": "uint8"}
    return StreamingResponse(
        _raw(frames), media_type="application/octet-stream", headers=raw_headers, background=background
    )
