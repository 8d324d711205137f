"""The memory model (spec §3) against every entry of the released memory matrix."""
import numpy as np
import pytest

from peppp_bench.build import model_memory, paper_datasets
from peppp_bench.memory import count_network, resnet18_counts

torch = pytest.importorskip("torch")


def test_closed_form_reproduces_every_released_entry(paper) -> None:
    model = model_memory(paper.datasets)
    assert model.shape == (87, 99)
    assert np.abs(model - paper.M).max() <= 0.12


def test_hook_counter_reproduces_every_released_entry(paper) -> None:
    from peppp_bench.generate.models import resnet18

    rows = []
    cache = {}
    for r in paper.datasets.itertuples():
        key = (r.resolution, r.classes)
        if key not in cache:
            cache[key] = count_network(resnet18(r.classes), (3, r.resolution, r.resolution)).memory_row()
        rows.append(cache[key])
    assert np.abs(np.stack(rows) - paper.M).max() <= 0.12


def test_hook_counter_equals_closed_form_counts() -> None:
    from peppp_bench.generate.models import resnet18

    for h, c in [(32, 10), (64, 1623), (64, 2)]:
        assert count_network(resnet18(c), (3, h, h)) == resnet18_counts(h, c)
    assert resnet18_counts(32, 10).activations == 114_410_432


def test_hook_counter_on_a_plain_user_model() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    counts = count_network(model, (3, 2, 2), batch=4)
    assert counts.params == 12 * 7 + 7 + 7 * 3 + 3
    assert counts.activations == 4 * (12 + 7 + 7 + 3)
    assert counts.inputs == 48 and counts.logits == 12


def test_hook_counter_rejects_a_non_classifier() -> None:
    with pytest.raises(ValueError, match="logits of shape"):
        count_network(torch.nn.Conv2d(3, 4, 3), (3, 8, 8))


def test_closed_form_needs_resolution_multiple_of_8() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        resnet18_counts(30, 10)
