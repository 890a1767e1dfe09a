"""The host-speed probe's rolling medians and episodes (pure functions, synthetic timings)."""

from __future__ import annotations

from benchmarks import host_speed as hs


def _series(levels: list[tuple[float, float]], step_s: float = 0.1) -> tuple[list[float], list[float]]:
    """(stamps, ms): ``seconds`` of decodes at ``ms`` each, one after another."""
    stamps: list[float] = []
    ms: list[float] = []
    t = 100.0
    for seconds, level in levels:
        for _ in range(round(seconds / step_s)):
            stamps.append(t)
            ms.append(level)
            t += step_s
    return stamps, ms


def test_rolling_medians_step_by_half_a_window_from_the_first_stamp() -> None:
    stamps, ms = _series([(4.0, 100.0), (4.0, 160.0)])
    rolled = hs.rolling_medians(stamps, ms, 2.0)
    assert [s for s, _ in rolled][:3] == [0.0, 1.0, 2.0]
    assert rolled[0][1] == 100.0 and rolled[-1][1] == 160.0


def test_an_episode_is_a_run_of_slow_windows_with_its_length_and_level() -> None:
    stamps, ms = _series([(6.0, 100.0), (5.0, 165.0), (6.0, 100.0)])
    rolled = hs.rolling_medians(stamps, ms, 2.0)
    found = hs.episodes(rolled, 100.0, 2.0)
    assert len(found) == 1
    ep = found[0]
    assert ep["level"] == 1.65
    assert 4.0 <= ep["length_s"] <= 6.0  # the 5-s slow stretch, to the window's resolution
    assert 4.0 <= ep["start_s"] <= 6.0


def test_a_steady_machine_has_no_episode() -> None:
    stamps, ms = _series([(10.0, 100.0)])
    assert hs.episodes(hs.rolling_medians(stamps, ms, 2.0), 100.0, 2.0) == []
