"""The grid's statistics (gainnet_rl.evaluation.stats, rliable): IQM and its
stratified bootstrap interval over training seeds x evaluation episodes, the
probability of improvement on paired episodes, and the cell verdict."""

from __future__ import annotations

import numpy as np
import pytest
from rliable import metrics

from gainnet_rl.evaluation import stats


def test_iqm_is_the_quarter_trimmed_mean_over_every_score() -> None:
    x = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 100.0]])  # 8 scores
    point = stats.iqm_interval(x, reps=50)[0]
    assert point == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))
    assert point == pytest.approx(metrics.aggregate_iqm(x))


def test_iqm_interval_covers_the_point_and_shrinks_with_episodes() -> None:
    rs = np.random.default_rng(0)
    few = rs.normal(3.0, 2.0, (3, 20))
    many = rs.normal(3.0, 2.0, (3, 400))
    p, lo, hi = stats.iqm_interval(few, reps=500)
    assert lo <= p <= hi
    _, lo2, hi2 = stats.iqm_interval(many, reps=500)
    assert hi2 - lo2 < (hi - lo) / 2
    assert lo2 < 3.0 < hi2
    # seeded: the same interval twice
    assert stats.iqm_interval(few, reps=500) == (p, lo, hi)


def test_iqm_interval_includes_the_spread_between_training_seeds() -> None:
    """Three runs whose levels differ: the task (episode) and run bootstrap
    gives a wider interval than the runs' episodes pooled as one run."""
    rs = np.random.default_rng(1)
    runs = rs.normal(0.0, 0.3, (3, 200)) + np.array([[0.0], [2.0], [4.0]])
    _, lo, hi = stats.iqm_interval(runs, reps=500)
    _, lo1, hi1 = stats.iqm_interval(runs.reshape(1, -1), reps=500)
    assert hi - lo > 2 * (hi1 - lo1)


def test_probability_of_improvement_is_rliables_and_stays_in_0_1() -> None:
    rs = np.random.default_rng(2)
    x = np.round(rs.normal(0.5, 1.0, (3, 60)))  # rounded: ties on purpose
    y = np.round(rs.normal(0.0, 1.0, (1, 60)))
    assert stats.poi(x, y) == pytest.approx(metrics.probability_of_improvement(x, y), abs=1e-12)
    p, lo, hi = stats.probability_of_improvement(x, y, reps=300)
    assert 0.0 <= lo <= p <= hi <= 1.0
    assert p > 0.5
    # a clear win, a tie with oneself, a clear loss
    assert stats.probability_of_improvement(y + 100, y, reps=100) == (1.0, 1.0, 1.0)
    assert stats.probability_of_improvement(y, y, reps=100) == (0.5, 0.5, 0.5)
    assert stats.probability_of_improvement(y - 100, y, reps=100) == (0.0, 0.0, 0.0)


def test_verdicts() -> None:
    assert stats.verdict((5.0, 4.0, 6.0), (2.0, 1.0, 3.0)) == "won"
    assert stats.verdict((2.0, 1.0, 3.0), (5.0, 4.0, 6.0)) == "lost"
    assert stats.verdict((5.0, 3.0, 6.0), (4.0, 2.5, 5.0)) == "tied (at or above)"
    assert stats.verdict((4.0, 3.0, 6.0), (5.0, 2.5, 5.5)) == "tied (below)"


@pytest.mark.parametrize(
    ("scores", "match"),
    [(np.zeros(5), "shape"), (np.zeros((2, 1)), "shape"), (np.array([[0.0, np.nan]]), "NaN")],
)
def test_bad_score_matrices_are_clear_errors(scores: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        stats.iqm_interval(scores)


def test_unpaired_episodes_are_refused() -> None:
    with pytest.raises(ValueError, match="same episodes"):
        stats.probability_of_improvement(np.zeros((2, 5)), np.zeros((1, 6)))
