"""The plan's ``engine`` section: served stages become worker groups, every other stage is listed."""

from __future__ import annotations

import json

from reelserve.models.catalog import load_catalog
from reelserve.sched.provision import (
    GpuType,
    PlanWorkload,
    Pool,
    Stage,
    StagePlan,
    Variant,
    ad_variants,
    make_result,
    podcast,
)
from reelserve.sched.provision.engine_config import ENGINE_MODELS, VARIANT_MODELS, catalog_model

CATALOG = {"A": GpuType("A", 1.0, 1.0, 0.4, 80), "B": GpuType("B", 2.0, 3.0, 1.0, 80, 0.5)}


def test_every_mapped_model_is_a_served_catalog_model() -> None:
    catalog = load_catalog()
    assert set(catalog) >= ENGINE_MODELS and set(VARIANT_MODELS.values()) <= ENGINE_MODELS
    assert all(catalog[m].task == "t2v" for m in ENGINE_MODELS)
    assert (
        catalog_model("wan-14b-720p") == "wan2.1-t2v-14b"
        and catalog_model("wan-1.3b-480p") == "wan2.1-t2v-1.3b"
    )
    assert catalog_model("tiny-wan") == "tiny-wan"
    assert catalog_model("talking-head-400p") is None and catalog_model("llm-8b") is None


def test_an_ads_plan_is_one_worker_group_per_pool_with_the_planned_settings() -> None:
    w = ad_variants(count=100, deadline_h=2.0, resolution="480p")
    stages = (StagePlan("generate", "wan-14b-480p", (Pool("H100", False, 3), Pool("A100", True, 2))),)
    cfg = make_result("milp", w, stages, 1.0).to_config()
    engine = json.loads(json.dumps(cfg["engine"]))  # what the plan file holds
    assert engine["served_elsewhere"] == []
    h100, a100 = engine["workers"]
    assert (h100["gpu"], h100["spot"], h100["replicas"], a100["gpu"], a100["spot"], a100["replicas"]) == (
        "H100", False, 3, "A100", True, 2,
    )  # fmt: skip
    assert h100["model"] == a100["model"] == "wan2.1-t2v-14b"
    assert (h100["resolution"], h100["size"], h100["quality"], h100["max_batch"]) == (
        "480p",
        "832x480",
        "medium",
        1,
    )
    assert h100["units"] == 100 and h100["gpus_per_replica"] == 1
    # 45 A100-s per 480p unit: H100 is twice as fast; a spot A100 loses 0.05 evictions/h x 60 s
    assert h100["unit_s"] == 22.5 and a100["unit_s"] == round(45.0 / (1 - 0.05 * 60 / 3600), 3)
    # replicas in the engine section add up to the plan's GPUs
    assert sum(g["replicas"] * g["gpus_per_replica"] for g in engine["workers"]) == cfg["gpus"]


def test_a_podcast_plan_lists_the_stages_served_elsewhere_and_drops_none() -> None:
    w = podcast(minutes=1.0, quality="medium", ttff_s=None)
    stages = tuple(
        StagePlan(s.name, s.variant(w.min_quality).name, (Pool("B300", False, 1 + i),))
        for i, s in enumerate(w.stages)
    )
    engine = make_result("greedy", w, stages, 1.0).to_config()["engine"]
    assert engine["workers"] == []  # talking heads are not a model of this engine
    listed = {e["stage"]: e for e in engine["served_elsewhere"]}
    assert set(listed) == {s.name for s in w.stages}
    assert [listed[s]["kind"] for s in ("script", "speech", "portrait")] == ["LLM", "TTS", "image model"]
    assert (
        listed["video"]["kind"].startswith("talking-head")
        and listed["video"]["variant"] == "talking-head-400p"
    )
    assert listed["video"]["pools"] == [{"gpu": "B300", "spot": False, "replicas": 4}]
    assert all("served elsewhere" in e["reason"] for e in listed.values())


def test_a_mixed_pipeline_serves_the_wan_stage_and_lists_the_rest() -> None:
    stages = (
        Stage("script", 1, (Variant("llm-8b", 2, 4.0),)),
        Stage("clips", 6, (Variant("wan-1.3b-480p", 1, 10.0), Variant("mystery-model", 1, 50.0))),
    )
    w = PlanWorkload("mixed", stages, catalog=CATALOG, gpu_types=("A", "B"))
    plan = (
        StagePlan("script", "llm-8b", (Pool("A", False, 1),)),
        StagePlan("clips", "wan-1.3b-480p", (Pool("B", True, 2),)),
    )
    engine = make_result("greedy", w, plan, 1.0).to_config()["engine"]
    (group,) = engine["workers"]
    assert (group["stage"], group["model"], group["gpu"], group["spot"], group["replicas"]) == (
        "clips", "wan2.1-t2v-1.3b", "B", True, 2,
    )  # fmt: skip
    # spot B: 0.5 evictions/h x 60 s lost per eviction -> 99.17% of its speed
    assert group["unit_s"] == round(10.0 / (2.0 * (1 - 0.5 * 60 / 3600)), 3)
    assert [e["stage"] for e in engine["served_elsewhere"]] == ["script"]

    unknown = (
        StagePlan("script", "llm-8b", (Pool("A", False, 1),)),
        StagePlan("clips", "mystery-model", (Pool("A", False, 1),)),
    )
    other = make_result("greedy", w, unknown, 1.0).to_config()["engine"]
    assert other["workers"] == [] and other["served_elsewhere"][1]["kind"] == "model"
