"""A plan's ``engine`` section carries the scheduling switches of the policy it is made for."""

from __future__ import annotations

import pytest

from reelserve.core.errors import InvalidInput, UnknownName
from reelserve.sched.provision import Pool, StagePlan, ad_variants, make_result
from reelserve.sched.provision.engine_config import (
    PLAN_POLICY,
    Scheduling,
    engine_section,
    policy_scheduling,
)

W = ad_variants(count=10, deadline_h=2.0, resolution="480p")
STAGES = (StagePlan("generate", "wan-14b-480p", (Pool("H100", False, 1),)),)


def test_a_plan_is_made_for_the_closed_loop_and_carries_streams_first_and_headroom_1() -> None:
    engine = make_result("greedy", W, STAGES, 1.0).to_config()["engine"]
    assert PLAN_POLICY == "closed-loop"
    assert (engine["policy"], engine["ordering"], engine["headroom"]) == ("closed-loop", "streams-first", 1)


def test_policies_without_the_switches_keep_edf_and_no_headroom() -> None:
    for policy in ("static", "turboserve"):
        section = engine_section(W, STAGES, policy).to_dict()
        assert (section["policy"], section["ordering"], section["headroom"]) == (policy, "edf", 0)
    with pytest.raises(UnknownName, match=r"closed-loop, closed-loop\+slo, static, turboserve"):
        policy_scheduling("closed-loop+offload")


@pytest.mark.parametrize(
    ("ordering", "headroom", "error"),
    [
        ("fifo", 0, UnknownName),
        ("edf", -1, InvalidInput),
        ("edf", True, InvalidInput),
        ("edf", 1.5, InvalidInput),
    ],
)
def test_scheduling_takes_the_engine_s_rules_and_a_whole_headroom(
    ordering: str, headroom: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Scheduling(ordering, headroom)  # type: ignore[arg-type]
    assert Scheduling("streams-first", 2).headroom == 2
