"""The seed issue's questions (MLCommons endpoints #289), each answered with this run's figures.

``answer_questions(summary)`` reads a finished run's summary and returns one entry per question:
``{"id", "question", "figures", "answer"}`` — ``figures`` are the measured numbers (None when this
run did not measure them, with ``answer`` saying which run would), ``answer`` a sentence built from
them. Nothing here is asserted in advance: every sentence is computed from the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["QUESTIONS", "answer_questions"]

Entry = dict[str, Any]

QUESTIONS: dict[str, str] = {
    "transmission_counts": "Does video transmission count as inference performance (Option A vs Option B)?",
    "path_or_blob": "Pass a path/hash (reference) or a blob video file?",
    "raw_vs_mp4": "~220 MB raw tensor per video, or a few MB of MP4?",
    "done_signal": "What is the response-complete signal: model finished, or encoded video available?",
    "mp4_counts": "Does MP4 compression count in inference performance?",
    "compress_in_accuracy": "Fold compression into the accuracy phase (download → compress → score)?",
    "hardware_encode": "Is there a hardware (GPU) encode path, or an offload unit?",
    "query_counts": "248 videos for accuracy, 50 (or 100) for performance?",
    "videos_per_s": "Single-stream videos/s, and scaling up from concurrency 1?",
}


def _pct(part: float | None, whole: float | None) -> str:
    return "—" if part is None or not whole else f"{100 * part / whole:.1f} %"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def _interval(summary: dict[str, Any], name: str, stat: str = "mean") -> float | None:
    value = summary.get("performance", {}).get("intervals_s", {}).get(name, {}).get(stat)
    return float(value) if value is not None else None


def _transmission(s: dict[str, Any]) -> Entry:
    a, b = s["answers"].get("option_a_model_s"), s["answers"].get("option_b_e2e_s")
    beyond = b - a if a is not None and b is not None else None
    text = (
        f"Option A (model) {_s(a)}, Option B (issue → last byte) {_s(b)}: encode, queueing, the done "
        f"signal and transmission add {_s(beyond)} ({_pct(beyond, b)} of Option B)"
        if a is not None
        else "the server sent no stamps: only Option B was measured"
    )
    return {"figures": {"option_a_s": a, "option_b_s": b, "difference_s": beyond}, "answer": text}


def _path_or_blob(s: dict[str, Any]) -> Entry:
    table = s.get("delivery_comparison", {})
    if "reference" not in table or "blob" not in table:
        return {"figures": None, "answer": "run with --delivery blob,reference to compare them"}
    ref, blob = table["reference"], table["blob"]
    # Compared on ready → complete (the content request: what the delivery mode itself costs), else
    # encoded → complete, else e2e — never on e2e when avoidable: its spread is the model's.
    key = next(
        (k for k in ("fetch_mean_s", "deliver_mean_s") if ref.get(k) is not None and blob.get(k) is not None),
        "e2e_mean_s",
    )
    diff = blob[key] - ref[key] if blob.get(key) is not None and ref.get(key) is not None else None
    what = {"fetch_mean_s": "done → last byte", "deliver_mean_s": "MP4 ready → last byte"}.get(key, "e2e")
    text = (
        f"reference {ref['bytes_per_video']:.0f} B/video, blob {blob['bytes_per_video']:.0f} B/video; "
        f"{what}: reference {_s(ref.get(key))}, blob {_s(blob.get(key))} "
        f"(blob − reference {'—' if diff is None else f'{diff * 1000:+.1f} ms'})"
    )
    return {"figures": {"reference": ref, "blob": blob, "blob_minus_reference_s": diff}, "answer": text}


def _raw_vs_mp4(s: dict[str, Any]) -> Entry:
    ans, table = s["answers"], s.get("delivery_comparison", {})
    raw = table.get("raw", {}).get("bytes_per_video")
    figures = {
        "raw_frames_bytes": ans.get("raw_frames_bytes"),
        "raw_bytes_measured": raw,
        "mp4_bytes_mean": ans.get("mp4_bytes_mean"),
        "raw_over_mp4": ans.get("raw_over_mp4"),
        "raw_transfer_s": table.get("raw", {}).get("transfer_mean_s"),
        "blob_transfer_s": table.get("blob", {}).get("transfer_mean_s"),
        "raw_deliver_s": table.get("raw", {}).get("deliver_mean_s"),
        "blob_deliver_s": table.get("blob", {}).get("deliver_mean_s"),
    }
    ratio = ans.get("raw_over_mp4")
    text = (
        f"raw frames {ans.get('raw_frames_bytes')} B vs MP4 {ans.get('mp4_bytes_mean') or 0:.0f} B mean "
        f"({'—' if ratio is None else f'{ratio:.1f}×'})"
    )
    if raw is not None:
        text += (
            f"; measured raw transfer {_s(figures['raw_transfer_s'])}, MP4 {_s(figures['blob_transfer_s'])}"
        )
    return {"figures": figures, "answer": text}


def _done_signal(s: dict[str, Any]) -> Entry:
    issued_to_generated = None
    parts = [_interval(s, n) for n in ("admission", "queue", "model")]
    if all(p is not None for p in parts):
        issued_to_generated = sum(p for p in parts if p is not None)
    encoded, complete = _interval(s, "to_encoded"), _interval(s, "e2e")
    text = (
        f"issue → model done {_s(issued_to_generated)}, → MP4 available {_s(encoded)}, → last byte at "
        f"the client {_s(complete)} (means); MLPerf's completion is the last one"
    )
    figures = {"to_generated_s": issued_to_generated, "to_encoded_s": encoded, "to_complete_s": complete}
    return {"figures": figures, "answer": text}


def _mp4_counts(s: dict[str, Any]) -> Entry:
    encode, e2e = _interval(s, "encode"), _interval(s, "e2e")
    text = f"server-side MP4 encode {_s(encode)} mean = {_pct(encode, e2e)} of Option B"
    return {
        "figures": {"encode_s": encode, "share_of_e2e": encode / e2e if encode and e2e else None},
        "answer": text,
    }


def _compress_in_accuracy(s: dict[str, Any]) -> Entry:
    acc = s.get("accuracy", {})
    client = acc.get("client_encode_s_mean")
    if client is None:
        return {
            "figures": None,
            "answer": "run --delivery raw --mode both: the client encodes outside the timing",
        }
    text = (
        f"raw delivery; the client encodes the MP4 after 'complete', outside the timing: {_s(client)}/video"
    )
    return {"figures": {"client_encode_s": client}, "answer": text}


def _hardware(s: dict[str, Any]) -> Entry:
    env = s.get("environment", {})
    built, usable = env.get("hardware_encoders", []), env.get("hardware_encoders_usable", [])
    encode = _interval(s, "encode")
    text = (
        f"hardware encoders in the client's FFmpeg: {', '.join(built) or 'none'}, usable on this machine: "
        f"{', '.join(usable) or 'none'}; the server's encode costs {_s(encode)} per video here "
        "(compare a run with the server encoding on NVENC)"
    )
    figures = {"client_encoders_built": built, "client_encoders_usable": usable, "server_encode_s": encode}
    return {"figures": figures, "answer": text}


def _counts(s: dict[str, Any]) -> Entry:
    perf, acc = s.get("performance", {}), s.get("accuracy", {})
    figures = {"performance_queries": perf.get("queries"), "accuracy_queries": acc.get("queries")}
    perf_n, acc_n = (figures[k] or 0 for k in ("performance_queries", "accuracy_queries"))
    text = f"this run: {perf_n} performance, {acc_n} accuracy queries"
    return {"figures": figures, "answer": text}


def _throughput(s: dict[str, Any]) -> Entry:
    cfg, perf = s["config"], s.get("performance", {})
    concurrency = 1 if cfg["scenario"] == "single-stream" else cfg["concurrency"]
    open_loop = cfg["scenario"] in ("offline", "server") and concurrency == 1
    vps = perf.get("videos_per_s")
    load = "every query in flight as it arrives" if open_loop else f"concurrency {concurrency}"
    text = f"{cfg['scenario']}, {load}: {'—' if vps is None else f'{vps:.3f}'} videos/s"
    return {
        "figures": {"scenario": cfg["scenario"], "concurrency": concurrency, "videos_per_s": vps},
        "answer": text,
    }


_ANSWERS: dict[str, Callable[[dict[str, Any]], Entry]] = {
    "transmission_counts": _transmission,
    "path_or_blob": _path_or_blob,
    "raw_vs_mp4": _raw_vs_mp4,
    "done_signal": _done_signal,
    "mp4_counts": _mp4_counts,
    "compress_in_accuracy": _compress_in_accuracy,
    "hardware_encode": _hardware,
    "query_counts": _counts,
    "videos_per_s": _throughput,
}


def answer_questions(summary: dict[str, Any]) -> list[Entry]:
    """One entry per seed-issue question, from a finished run's summary (needs its ``answers``)."""
    return [{"id": key, "question": QUESTIONS[key], **_ANSWERS[key](summary)} for key in QUESTIONS]
