import pytest
import torch

from encoderkit.errors import EncoderkitError
from encoderkit.models.heads.pooling import POOLINGS, pool

X = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]], [[2.0, 2.0], [-4.0, 6.0], [0.0, 0.0]]])
M = torch.tensor([[1, 1, 0], [1, 1, 1]])


@pytest.mark.parametrize(
    "how,expected",
    [
        ("mean", [[2.0, 1.0], [-2 / 3, 8 / 3]]),
        ("cls", [[1.0, 0.0], [2.0, 2.0]]),
        ("max", [[3.0, 2.0], [2.0, 6.0]]),
        # weights 1,2 (padding excluded) and 1,2,3
        ("weighted_mean", [[(1 + 6) / 3, (0 + 4) / 3], [(2 - 8 + 0) / 6, (2 + 12 + 0) / 6]]),
        ("last", [[3.0, 2.0], [0.0, 0.0]]),
    ],
)
def test_pooling_values_ignore_padding(how, expected):
    assert torch.allclose(pool(X, M, how), torch.tensor(expected), atol=1e-6)


def test_max_pool_never_picks_padding_even_if_larger():
    x = torch.tensor([[[-1.0], [100.0]]])
    m = torch.tensor([[1, 0]])
    assert pool(x, m, "max").item() == -1.0


def test_unknown_pooling_is_a_clear_error():
    with pytest.raises(EncoderkitError, match="unknown pooling 'avg'"):
        pool(X, M, "avg")
    assert set(POOLINGS) == {"mean", "cls", "max", "weighted_mean", "last"}
