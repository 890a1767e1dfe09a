"""Media: encode, decode, probe, thumbnails, fragmented MP4 and remuxing, with PyAV (FFmpeg).

Imports only `reelserve.core`. Frames are uint8 RGB numpy arrays, (H, W, 3) each or (T, H, W, 3).
Errors are `reelserve.core.errors.InvalidInput` (bad arguments or frames) and `MediaError`
(a file that cannot be read or written, or an encoder/decoder that failed).

    encode.py   encode_video, VideoWriter (streaming), EncodeResult
    codecs.py   EncodeSettings, encoder choice (H.264/H.265/AV1, NVENC with fallback)
    fmp4.py     FragmentedEncoder: init segment + one moof/mdat segment per chunk
    decode.py   decode_frames: every frame, N fps, or given times; DecodedFrame
    probe.py    probe -> VideoInfo
    thumbs.py   thumbnail (JPEG), spritesheet
    remux.py    concat, split_at_keyframes (no re-encoding)
    _input.py   open_video: open a file for reading with clear MediaErrors (also used by decoders elsewhere)
"""

from __future__ import annotations

from reelserve.media._input import open_video
from reelserve.media.codecs import CODECS, EncoderChoice, EncodeSettings, choose_encoder
from reelserve.media.decode import DecodedFrame, decode_frames
from reelserve.media.encode import EncodeResult, VideoWriter, encode_video
from reelserve.media.fmp4 import FragmentedEncoder
from reelserve.media.probe import VideoInfo, probe
from reelserve.media.remux import KeyframeChunk, concat, split_at_keyframes
from reelserve.media.thumbs import FrameSampler, Spritesheet, spritesheet, thumbnail

__all__ = [
    "CODECS",
    "DecodedFrame",
    "EncodeResult",
    "EncodeSettings",
    "EncoderChoice",
    "FragmentedEncoder",
    "FrameSampler",
    "KeyframeChunk",
    "Spritesheet",
    "VideoInfo",
    "VideoWriter",
    "choose_encoder",
    "concat",
    "decode_frames",
    "encode_video",
    "open_video",
    "probe",
    "split_at_keyframes",
    "spritesheet",
    "thumbnail",
]
