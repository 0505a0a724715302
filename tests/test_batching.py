from aligner.batching import token_batches


def test_pair_count_limit():
    assert token_batches([1, 1, 1, 1, 1], batch_size=2) == [range(0, 2), range(2, 4), range(4, 5)]


def test_token_budget_counts_padding_to_the_longest():
    # [2, 3]: 2 x 3 = 6; adding 4 would pad to 3 x 4 = 12 > 10. [4, 5]: 2 x 5 = 10 fits exactly;
    # adding the next 5 gives 15. [5, 9] would be 18: the 9 stands alone.
    assert token_batches([2, 3, 4, 5, 5, 9], batch_size=100, max_tokens=10) == [range(0, 2), range(2, 4), range(4, 5), range(5, 6)]


def test_item_over_budget_gets_its_own_batch():
    assert token_batches([20, 30], batch_size=8, max_tokens=10) == [range(0, 1), range(1, 2)]


def test_empty():
    assert token_batches([], batch_size=4) == []
