import numpy as np
import pytest

from edge.postprocess import UNKNOWN, Smoother, format_probabilities, label_for, top_k


def test_top_k_orders_and_limits():
    assert top_k([0.1, 0.7, 0.2], k=2) == [(1, pytest.approx(0.7)), (2, pytest.approx(0.2))]


def test_top_k_threshold_and_ties():
    assert top_k([0.4, 0.4, 0.2], k=3, threshold=0.3) == [(0, 0.4), (1, 0.4)]
    assert top_k([0.1, 0.2], k=1, threshold=0.5) == []
    with pytest.raises(ValueError):
        top_k([1.0], k=0)


def test_label_for_threshold():
    labels = ["Hat", "Cube"]
    assert label_for([(1, 0.9)], labels, 0.5) == ("Cube", 0.9)
    assert label_for([(1, 0.4)], labels, 0.5) == (UNKNOWN, 0.4)
    assert label_for([], labels) == (UNKNOWN, 0.0)


def test_probability_format_matches_original_example():
    assert format_probabilities([0.0, 0.99, 0.01, 0.0, 0.0]) == "[0.   0.99 0.01 0.   0.  ]"


def test_smoother_is_a_rolling_mean():
    smooth = Smoother(2)
    np.testing.assert_allclose(smooth([1.0, 0.0]), [1.0, 0.0])
    np.testing.assert_allclose(smooth([0.0, 1.0]), [0.5, 0.5])
    np.testing.assert_allclose(smooth([0.0, 1.0]), [0.0, 1.0])  # the first frame left the window
    with pytest.raises(ValueError):
        Smoother(0)
