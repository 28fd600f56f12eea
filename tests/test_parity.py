"""The seed's loop through fedavg_helpers computes exactly what plain PyTorch computes."""
import torch
from seed import fresh_model, seed_loop_fh, seed_loop_plain


def test_seed_loop_matches_plain_pytorch_exactly():
    via_pointers, plain = fresh_model(), fresh_model()
    losses_fh = seed_loop_fh(via_pointers)
    losses_plain = seed_loop_plain(plain)
    assert torch.equal(via_pointers.weight, plain.weight)
    assert torch.equal(via_pointers.bias, plain.bias)
    assert losses_fh == losses_plain


def test_secure_average_gives_the_same_model_as_the_seeds_average():
    by_hand, by_helper = fresh_model(), fresh_model()
    seed_loop_fh(by_hand)
    from fedavg_helpers.core import worker
    worker._reset()
    seed_loop_fh(by_helper, use_secure_average=True)
    assert torch.equal(by_hand.weight, by_helper.weight)
    assert torch.equal(by_hand.bias, by_helper.bias)


def test_training_actually_learns_the_toy_problem():
    model = fresh_model()
    data = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]])
    target = torch.tensor([[0], [0], [1], [1.]])
    before = ((model(data) - target) ** 2).sum().item()
    seed_loop_fh(model)
    after = ((model(data) - target) ** 2).sum().item()
    assert after < before / 10
