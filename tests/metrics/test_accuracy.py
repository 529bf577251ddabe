"""Class accuracy maths on hand-made logits."""

import pytest
import torch

from flowbench.errors import ConfigError
from flowbench.metrics import class_accuracy


def one_hot_logits(predicted: list[int], num_classes: int = 3) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(predicted), num_classes).float() * 5.0


def test_accuracy_and_per_class():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    logits = one_hot_logits([0, 0, 1, 1, 2, 2])  # correct: 0,0,_,1,_,2 -> 4/6
    acc = class_accuracy(logits, labels)
    assert acc.accuracy == pytest.approx(4 / 6)
    assert acc.per_class == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert acc.balanced_accuracy == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert acc.num == 6


def test_absent_class_is_none_and_left_out_of_balanced_mean():
    acc = class_accuracy(one_hot_logits([0, 1, 1]), torch.tensor([0, 1, 0]), num_classes=3)
    assert acc.per_class[2] is None
    assert acc.balanced_accuracy == pytest.approx((0.5 + 1.0) / 2)


@pytest.mark.parametrize(
    "logits, labels",
    [
        (torch.zeros(3, 2), torch.tensor([0, 1])),  # length mismatch
        (torch.zeros(2, 2), torch.tensor([0, 2])),  # label out of range
        (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)),  # empty
    ],
)
def test_bad_inputs(logits, labels):
    with pytest.raises(ConfigError):
        class_accuracy(logits, labels)
