"""The break-even idle limit and the expected wait for a busy node, on given histories."""

import pytest

from render_core.gpu.idle_policy import MIN_SAMPLES, break_even_idle_timeout, miss_cost
from render_core.gpu.wait_policy import expected_remaining, expected_wait

LAUNCH = 60.0


def test_without_history_an_idle_node_is_kept_as_long_as_a_miss_costs():
    assert break_even_idle_timeout([], LAUNCH, floor=15, ceiling=300) == miss_cost(LAUNCH) == 180
    assert break_even_idle_timeout([5.0] * (MIN_SAMPLES - 1), LAUNCH, floor=15, ceiling=300) == 180


def test_gaps_longer_than_a_relaunch_stop_the_node_at_once():
    # quiet periods of 200-900 s: waiting for them costs more than relaunching
    gaps = [0.5, 1, 2, 200, 450, 900, 300, 600, 1, 3]
    assert break_even_idle_timeout(gaps, LAUNCH, floor=15, ceiling=300) == 15


def test_short_gaps_keep_the_node_through_them():
    # steady traffic: the next job comes within 40 s nearly always
    gaps = [10, 25, 40, 12, 33, 8, 38, 21, 30, 500]
    assert break_even_idle_timeout(gaps, LAUNCH, floor=15, ceiling=300) == 40


def test_gpu_idle_timeout_stays_the_upper_bound():
    gaps = [50, 60, 70, 80, 90, 55, 65, 75]
    assert break_even_idle_timeout(gaps, LAUNCH, floor=15, ceiling=300) == 90
    assert break_even_idle_timeout(gaps, LAUNCH, floor=15, ceiling=70) == 70
    assert break_even_idle_timeout([], LAUNCH, floor=15, ceiling=30) == 30
    assert break_even_idle_timeout([], LAUNCH, floor=15, ceiling=0) == 0


@pytest.mark.parametrize("launch", [20.0, 30.0, 60.0, 180.0])
def test_a_slower_launch_keeps_nodes_longer(launch):
    gaps = [150.0] * 10  # keep through them when stopping (15 s, then a miss) costs more
    limit = break_even_idle_timeout(gaps, launch, floor=15, ceiling=300)
    assert (limit >= 150) == (15 + miss_cost(launch) > 150)


def test_expected_remaining_time_of_a_lease_given_its_age():
    holds = [20, 40, 60, 80, 100, 120]
    assert expected_remaining(holds, 0) == pytest.approx(70)
    assert expected_remaining(holds, 70) == pytest.approx((10 + 30 + 50) / 3)
    assert expected_remaining(holds, 130) is None  # older than every lease seen
    assert expected_remaining(holds[:3], 0) is None  # too little history


def test_expected_wait_is_the_rank_th_soonest_free_node():
    assert expected_wait([30.0, None, 10.0], 1) == 10.0
    assert expected_wait([30.0, None, 10.0], 2) == 30.0
    assert expected_wait([30.0, None, 10.0], 3) is None
    assert expected_wait([], 1) is None
