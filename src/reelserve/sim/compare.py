"""Compare a policy's frontier with the baseline's: latency at equal cost, cost at equal target.

Points are frontier entries (``runner._frontier``): ``policy``, ``gpus``, ``cost_usd`` and the
compared figures. Two notions of "the same latency target":

- **latency only** (the figure before 25 Nov, kept for comparison): a point reaches the target when
  its ``metric`` is at or below the target point's. First chunks are not chunks there (they are TTFF),
  so a budget that makes new sessions wait minutes for a slot "reaches" a per-chunk target as long as
  the sessions it did admit stream on time.
- **equal service**: it must also start sessions as well — TTFF p99 at or below the target point's,
  or at or below the per-chunk deadline when the target point's is lower (a first chunk delivered
  within the deadline every chunk is held to is on time). The baseline's cost to serve that well is
  the larger of its costs to reach each bound, each interpolated along its own lower envelope.

The target point is the baseline at its largest budget (its own operating point).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["compare", "compare_frontiers", "interp", "latency_at", "lower_envelope", "serves_as_well"]

TTFF = "ttff_p99_s"  #: the service figure: how long the slowest 1% of sessions wait for their first chunk


def lower_envelope(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(cost, latency) points -> the lower envelope: best latency reachable at or below each cost."""
    out: list[tuple[float, float]] = []
    for cost, lat in sorted(points):
        if not out or lat < out[-1][1]:
            out.append((cost, lat))
    return out


def interp(x: float, xs: list[float], ys: list[float]) -> float | None:
    if not xs or x < min(xs) or x > max(xs):
        return None
    return float(np.interp(x, xs, ys))


def _envelope(points: list[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    env = lower_envelope([(p["cost_usd"], p[metric]) for p in points])
    return [c for c, _ in env], [m for _, m in env]


def latency_at(points: list[dict[str, Any]], metric: str, cost: float) -> float | None:
    """The best ``metric`` of ``points`` at or below ``cost``, interpolated between their budgets.

    Past the envelope's last point (more budget did not lower ``metric``) it stays at that point's value
    up to the dearest swept point; None below the cheapest point or above the dearest.
    """
    costs, lats = _envelope(points, metric)
    if not costs or cost < costs[0] or cost > max(p["cost_usd"] for p in points):
        return None
    return float(np.interp(cost, costs, lats))  # flat beyond the last envelope point


def _cost_to_reach(points: list[dict[str, Any]], metric: str, target: float) -> float | None:
    """The cost at which ``points``' envelope of ``metric`` comes down to ``target`` (None: outside)."""
    costs, lats = _envelope(points, metric)
    return interp(target, lats[::-1], costs[::-1])


def _cost_for_both(points: list[dict[str, Any]], needs: list[tuple[str, float]]) -> float | None:
    """The cost at which ``points`` meet every (metric, bound): the largest of the costs to reach each.

    A bound the cheapest swept point already meets costs at most that point's cost; it cannot raise
    the maximum when another bound is reached only above it, so that maximum is still exact. None when
    no bound is reached above the cheapest point (the true cost lies below the sweep) or one is never
    reached.
    """
    cheapest = min(p["cost_usd"] for p in points)
    costs: list[float] = []
    for metric, bound in needs:
        cost = _cost_to_reach(points, metric, bound)
        met_at_cheapest = min(points, key=lambda p: p["cost_usd"])[metric] <= bound
        if cost is None and not met_at_cheapest:
            return None
        costs.append(cheapest if cost is None else cost)
    top = max(costs)
    return top if top > cheapest else None


def compare(points: list[dict[str, Any]], ours: dict[str, Any], baseline: str, metric: str) -> dict[str, Any]:
    """Our run against the baseline's frontier: latency cut at equal cost, cost cut at equal latency.

    Equal cost: the baseline's best ``metric`` at our cost (interpolated along its lower envelope).
    Equal latency: the baseline's cost to reach our ``metric`` (interpolated the other way).
    ``None`` when our point lies outside the baseline's swept range.
    """
    base = [p for p in points if p["policy"] == baseline]
    base_lat = latency_at(base, metric, ours["cost_usd"]) if base else None
    base_cost = _cost_to_reach(base, metric, ours[metric])
    return {
        "metric": metric,
        "baseline": baseline,
        "our_cost_usd": ours["cost_usd"],
        "our_latency_s": ours[metric],
        "baseline_latency_at_equal_cost_s": base_lat,
        "latency_reduction_at_equal_cost": None
        if base_lat is None
        else round(1 - ours[metric] / base_lat, 4),
        "baseline_cost_at_equal_latency_usd": base_cost,
        "cost_reduction_at_equal_latency": None
        if base_cost is None
        else round(1 - ours["cost_usd"] / base_cost, 4),
    }


def serves_as_well(point: dict[str, Any], target: dict[str, Any], deadline_s: float) -> bool:
    """Does ``point`` start sessions as well as ``target``: TTFF p99 within max(target's, deadline)?"""
    return bool(point[TTFF] <= max(target[TTFF], deadline_s))


def _best_cut(
    ours: list[dict[str, Any]], base: list[dict[str, Any]], metric: str
) -> tuple[float, dict[str, Any], float] | None:
    best: tuple[float, dict[str, Any], float] | None = None
    for p in ours:
        at = latency_at(base, metric, p["cost_usd"]) if base else None
        if at is not None and (best is None or 1 - p[metric] / at > best[0]):
            best = (1 - p[metric] / at, p, at)
    return best


def _cut(ours: float | None, base: float | None) -> float | None:
    return None if ours is None or not base else round(1 - ours / base, 4)


def _equal_service(
    ours: list[dict[str, Any]],
    base: list[dict[str, Any]],
    full: dict[str, Any],
    metric: str,
    deadline_s: float,
) -> dict[str, Any]:
    """Cost at the target under the equal-service rule (module docstring)."""
    bound = max(full[TTFF], deadline_s)
    reaching = [p for p in ours if p[metric] <= full[metric] and serves_as_well(p, full, deadline_s)]
    cheapest = min(reaching, key=lambda p: p["cost_usd"]) if reaching else None
    lat_cost = _cost_to_reach(base, metric, full[metric])
    ttff_cost = _cost_to_reach(base, TTFF, bound)
    base_cost = _cost_for_both(base, [(metric, full[metric]), (TTFF, bound)])
    return {
        "ttff_bound_s": bound,
        "our_cost_at_target_usd": None if cheapest is None else cheapest["cost_usd"],
        "our_point_at_target": cheapest,
        "baseline_cost_at_target_usd": base_cost,
        "baseline_cost_for_latency_usd": lat_cost,
        "baseline_cost_for_ttff_usd": ttff_cost,
        "cost_reduction": _cut(None if cheapest is None else cheapest["cost_usd"], base_cost),
    }


def compare_frontiers(
    points: list[dict[str, Any]], policy: str, baseline: str, metric: str, deadline_s: float = 1.0
) -> dict[str, Any]:
    """``policy``'s swept points against ``baseline``'s, both ways.

    Equal cost: the largest latency cut of any of our points against the baseline's envelope at that
    point's cost. Equal latency target: the target is the baseline's latency at its largest budget;
    compare the cheapest cost of ours that reaches it with the baseline's cost to reach it
    (interpolated along its envelope) — latency only (``cost_reduction_at_equal_latency``) and at
    equal service (``equal_service``, with TTFF; points need ``ttff_p99_s`` for it).
    """
    base = [p for p in points if p["policy"] == baseline]
    ours = [p for p in points if p["policy"] == policy]
    best_cut = _best_cut(ours, base, metric)
    full = max(base, key=lambda p: (p["gpus"], p["cost_usd"])) if base else None
    target = None if full is None else full[metric]
    reaching = [p for p in ours if target is not None and p[metric] <= target]
    cheapest = min(reaching, key=lambda p: p["cost_usd"]) if reaching else None
    base_cost = None if target is None else _cost_to_reach(base, metric, target)
    service = None
    if full is not None and TTFF in full:
        service = _equal_service(ours, base, full, metric, deadline_s)
    return {
        "kind": "frontier",
        "metric": metric,
        "baseline": baseline,
        "latency_reduction_at_equal_cost": None if best_cut is None else round(best_cut[0], 4),
        "at_point": None
        if best_cut is None
        else {**best_cut[1], "baseline_latency_s": round(best_cut[2], 6)},
        "latency_target_s": target,
        "our_cost_at_target_usd": None if cheapest is None else cheapest["cost_usd"],
        "our_point_at_target": cheapest,
        "baseline_cost_at_target_usd": base_cost,
        "cost_reduction_at_equal_latency": _cut(
            None if cheapest is None else cheapest["cost_usd"], base_cost
        ),
        "equal_service": service,
    }
