"""Session state held by a model worker: conditioning and the latent frame the next chunk continues from.

``export`` turns it into bytes (offload to host memory, migration to another worker, the parent's
copy after every chunk); ``restore`` rebuilds it on any worker. Exported state plus the session spec
determine every later chunk exactly: same bytes in, same frames out, on whichever worker.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import torch

from reelserve.engine.sessions.spec import SessionSpec
from reelserve.models.wan import TextCond, WanT2V

__all__ = ["WorkerSession", "export_state", "restore_state"]


@dataclass
class WorkerSession:
    spec: SessionSpec  #: current settings; ``spec.prompt`` is the prompt of the next chunk
    next_index: int = 0  #: the chunk to generate next
    tail: torch.Tensor | None = None  #: (1, C, 1, h, w) last latent frame of the previous chunk
    cond: TextCond | None = None  #: text conditioning of ``spec.prompt`` (computed lazily)
    busy: bool = False  #: a chunk is in flight

    def conditioning(self, model: WanT2V) -> TextCond:
        if self.cond is None:
            s = self.spec
            self.cond = model.encode_text([s.prompt], [s.negative_prompt], s.guidance_scale)
        return self.cond

    def set_prompt(self, prompt: str) -> None:
        if prompt != self.spec.prompt:
            self.spec = self.spec.with_prompt(prompt)
            self.cond = None


def export_state(sess: WorkerSession) -> bytes:
    """The session's complete state as bytes (text embeddings included, so no re-encode on import)."""
    cond = sess.cond
    buf = io.BytesIO()
    torch.save(
        {
            "spec": sess.spec.to_dict(),
            "next_index": sess.next_index,
            "tail": None if sess.tail is None else sess.tail.cpu(),
            "embeds": None if cond is None else cond.embeds.cpu(),
            "negative": None if cond is None or cond.negative is None else cond.negative.cpu(),
        },
        buf,
    )
    return buf.getvalue()


def restore_state(data: bytes, model: WanT2V) -> WorkerSession:
    raw: dict[str, Any] = torch.load(io.BytesIO(data), map_location=model.device, weights_only=True)
    spec = SessionSpec(**raw["spec"])
    cond = None
    if raw["embeds"] is not None:
        cond = TextCond(raw["embeds"], raw["negative"], spec.guidance_scale)
    return WorkerSession(spec, raw["next_index"], raw["tail"], cond)
