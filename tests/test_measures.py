"""Weight and norm measures against direct computations."""

import torch

from aligner.measures import head_norm_scores, layer_norm_scores, weight_scores


def direct_layer_norms(alpha, values):
    # materialize sum_h alpha[b,h,t,s] * f[b,h,s,:] and take its norm, as the paper's code does
    vectors = torch.einsum("bhts,bhsd->btsd", alpha.double(), values.double())
    return torch.linalg.vector_norm(vectors, dim=-1)


def random_case(seed=0, batch=3, heads=4, target=5, source=6, dim=8):
    generator = torch.Generator().manual_seed(seed)
    alpha = torch.softmax(torch.randn(batch, heads, target, source, generator=generator), dim=-1)
    values = torch.randn(batch, heads, source, dim, generator=generator)
    return alpha, values


def test_weight_layer_is_head_mean():
    alpha = torch.tensor([[[[0.2, 0.8]], [[0.6, 0.4]]]])  # 1 x 2 heads x 1 x 2
    torch.testing.assert_close(weight_scores(alpha), torch.tensor([[[0.4, 0.6]]]))
    torch.testing.assert_close(weight_scores(alpha, head=1), torch.tensor([[[0.6, 0.4]]]))


def test_head_norm_by_hand():
    alpha = torch.tensor([[[[0.5, 0.5]]]])  # 1 head, 1 target, 2 sources
    values = torch.tensor([[[[3.0, 4.0], [0.0, 1.0]]]])  # norms 5 and 1
    torch.testing.assert_close(head_norm_scores(alpha, values, 0), torch.tensor([[[2.5, 0.5]]]))


def test_layer_norm_by_hand_is_norm_of_sum_not_sum_of_norms():
    alpha = torch.tensor([[[[1.0]], [[1.0]]]])  # 2 heads, 1 target, 1 source
    values = torch.tensor([[[[1.0, 0.0]], [[-1.0, 0.0]]]])  # opposite vectors cancel
    assert layer_norm_scores(alpha, values).item() == 0.0


def test_gram_layer_norms_equal_direct_computation():
    for seed in range(5):
        alpha, values = random_case(seed)
        torch.testing.assert_close(
            layer_norm_scores(alpha, values).double(), direct_layer_norms(alpha, values), rtol=1e-5, atol=0
        )
