"""Understanding models: one module per task family, each a thin adapter over transformers classes.

    shots.py       shot boundaries: PySceneDetect content detector, or the learned ShotNet
    classify.py    labels (top-k classes) and moderation (flags), ImageClassification models
    objects.py     objects, DETR with a transformers ResNet backbone
    captions.py    captions, ViT+GPT-2 or BLIP
    embeddings.py  image/text embeddings, CLIP or SigLIP
    base.py        devices, preprocessing (numpy/torch, no torchvision), batching, weights dirs
    registry.py    register("task") / load_task(task, weights, device, batch_size, **options)

Every task has a built-in ``tiny-*`` model (a config in code, seeded weights) and loads real weights
with ``from_pretrained(DIR)``. Frame tasks expose ``infer(frames (N, H, W, 3) uint8) -> one output per
frame``, batched by ``batch_size``; the shot task exposes ``pair_scores(frames)`` instead.
"""

from __future__ import annotations

from reelserve.models.understanding.registry import load_task, register, task_names

__all__ = ["load_task", "register", "task_names"]
