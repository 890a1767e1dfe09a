"""Every question of the seed issue gets an answer computed from the run's own figures."""

from __future__ import annotations

from pathlib import Path

from reelserve.bench.config import Api, Delivery, Mode
from reelserve.bench.questions import QUESTIONS, answer_questions

from .helpers import run, small


def test_a_full_run_answers_every_question_with_a_figure(server: str, tmp_path: Path) -> None:
    deliveries = (Delivery.RAW, Delivery.BLOB, Delivery.REFERENCE)
    summary = run(
        small(
            server, tmp_path, api=Api.SYNC, delivery=deliveries, mode=Mode.BOTH, queries=3, accuracy_queries=2
        )
    )
    entries = {e["id"]: e for e in summary["answers"]["questions"]}
    assert set(entries) == set(QUESTIONS)
    assert all(e["figures"] is not None for e in entries.values()), entries
    raw = entries["raw_vs_mp4"]["figures"]
    assert raw["raw_bytes_measured"] == raw["raw_frames_bytes"] == 9 * 64 * 64 * 3
    path = entries["path_or_blob"]["figures"]
    assert path["reference"]["bytes_per_video"] < path["blob"]["bytes_per_video"]
    # compared on done → last byte, which the delivery mode changes (not on the model's spread)
    ref = path["reference"]
    assert 0 <= ref["fetch_mean_s"] <= ref["deliver_mean_s"] < ref["e2e_mean_s"]
    assert path["blob_minus_reference_s"] is not None
    assert "done → last byte" in entries["path_or_blob"]["answer"]
    assert entries["compress_in_accuracy"]["figures"]["client_encode_s"] > 0
    assert entries["query_counts"]["figures"] == {"performance_queries": 3, "accuracy_queries": 2}
    done = entries["done_signal"]["figures"]
    assert done["to_generated_s"] <= done["to_encoded_s"] <= done["to_complete_s"]
    report = (tmp_path / "report.md").read_text()
    assert "seed issue's questions" in report and QUESTIONS["mp4_counts"] in report


def test_questions_a_run_did_not_measure_say_which_run_would(server: str, tmp_path: Path) -> None:
    summary = run(small(server, tmp_path, api=Api.SYNC, queries=2))
    entries = {e["id"]: e for e in answer_questions(summary)}
    assert entries["path_or_blob"]["figures"] is None
    assert "--delivery blob,reference" in entries["path_or_blob"]["answer"]
    assert entries["compress_in_accuracy"]["figures"] is None
    assert entries["transmission_counts"]["figures"]["option_a_s"] > 0
