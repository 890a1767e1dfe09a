"""CPU encode workers: fMP4 packaging of generated chunks, off the model workers and off the event loop.

``encode_processes = 0`` encodes on threads of the API process (PyAV releases the GIL while it
encodes); ``N > 0`` uses N spawned CPU worker processes. A ``FragmentedEncoder`` carries a stream's
state (frames so far, segment number, the init segment's parameter sets); with processes it travels
to the worker with the frames and comes back updated, so any worker can encode any session's next
chunk and the segments stitch into one timeline either way.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from reelserve.media.fmp4 import FragmentedEncoder

__all__ = ["encode_segment", "init_stream", "make_encode_pool"]


def init_stream(enc: FragmentedEncoder) -> tuple[FragmentedEncoder, bytes]:
    """Open the stream: returns the encoder (encoder chosen, parameter sets known) and the init segment."""
    init = enc.init_segment()
    return enc, init


def encode_segment(enc: FragmentedEncoder, frames: np.ndarray) -> tuple[FragmentedEncoder, bytes]:
    """Encode one chunk; returns the encoder (its state advanced) and the media segment."""
    segment = enc.encode_chunk(frames)
    return enc, segment


def make_encode_pool(threads: int, processes: int) -> Executor:
    if processes > 0:
        return ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn"))
    return ThreadPoolExecutor(max(1, threads), thread_name_prefix="encode")
