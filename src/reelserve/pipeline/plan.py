"""Frame-range segments: how a clip longer than the model's max frames is cut.

Segment 0 has up to ``segment_frames`` frames. Every later segment continues from the last latent
frame of the one before: its first latent frame is pinned to that frame, so its first decoded frame
overlaps the previous segment and is dropped. Each later segment therefore adds ``length - 1`` new
frames, a multiple of the VAE's temporal compression, and every total stays of the form 4k+1.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OVERLAP_LATENT_FRAMES", "Segment", "plan_segments"]

#: Latent frames a continuation is pinned to (1 latent frame = 1 decoded frame at the start).
OVERLAP_LATENT_FRAMES = 1


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    length: int  #: frames the model generates for this segment (4k+1)
    start: int  #: index in the final clip of the first frame this segment contributes
    drop: int  #: leading frames dropped because they overlap the previous segment

    @property
    def contributes(self) -> int:
        return self.length - self.drop


def plan_segments(total_frames: int, segment_frames: int, temporal: int = 4) -> list[Segment]:
    """Cut ``total_frames`` (4k+1) into segments of at most ``segment_frames`` (4k+1) frames."""
    if (total_frames - 1) % temporal or (segment_frames - 1) % temporal or segment_frames < 1 + temporal:
        raise ValueError("frame counts must be of the form 4k+1, segments at least 5 frames")
    if total_frames <= segment_frames:
        return [Segment(0, total_frames, 0, 0)]
    segments = [Segment(0, segment_frames, 0, 0)]
    done = segment_frames
    while done < total_frames:
        new = min(segment_frames - 1, total_frames - done)
        segments.append(Segment(len(segments), new + 1, done, 1))
        done += new
    return segments
