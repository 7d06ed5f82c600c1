"""data.py: determinism, weighted mixing, shifting by truncation, token files, resume."""

import dataclasses

import numpy as np
import pytest

from trainer import config, data


@pytest.fixture
def cfg():
    return dataclasses.replace(config.make("demo"), global_batch=10, seq_len=12)


def test_same_seed_same_batches_other_seed_differs(cfg):
    a, b = data.make(cfg), data.make(cfg)
    c = data.make(dataclasses.replace(cfg, seed=1))
    for _ in range(3):
        x, y, z = next(a), next(b), next(c)
        np.testing.assert_array_equal(x["inputs"], y["inputs"])
    assert not np.array_equal(x["inputs"], z["inputs"])


def test_shift_by_truncation_wastes_no_position(cfg):
    batch = next(data.make(cfg))
    assert batch["inputs"].shape == batch["targets"].shape == (cfg.global_batch, cfg.seq_len)
    np.testing.assert_array_equal(batch["targets"][:, :-1], batch["inputs"][:, 1:])
    rows = np.random.default_rng(0).integers(0, 9, (2, 5))
    shifted = data.shift(rows)
    np.testing.assert_array_equal(shifted["inputs"], rows[:, :4])
    np.testing.assert_array_equal(shifted["targets"], rows[:, 1:])


def test_mixture_follows_weights_within_one_row(cfg):
    it = data.make(cfg)  # weights 0.7 / 0.2 / 0.1
    counts = np.zeros(3)
    for step in range(1, 21):
        _, source = it.next_with_sources()
        counts += np.bincount(source, minlength=3)
        share = np.asarray(cfg.data_weights) * step * cfg.global_batch
        assert np.all(np.abs(counts - share) <= 1.0), (step, counts, share)
    assert it.state()["consumed"] == counts.astype(int).tolist()


def test_restore_continues_exactly(cfg):
    it = data.make(cfg)
    for _ in range(3):
        next(it)
    saved = it.state()
    expected = [next(it)["inputs"] for _ in range(2)]
    other = data.make(cfg)
    other.restore(saved)
    for want in expected:
        np.testing.assert_array_equal(next(other)["inputs"], want)


def test_sources_are_in_vocab_and_deterministic(cfg):
    for name in ("markov", "copy", "count"):
        src = data.make_source(name, cfg.vocab_size, seed=0)
        seq = src.sequence(5, 64)
        assert seq.shape == (64,) and 0 <= seq.min() and seq.max() < cfg.vocab_size
        np.testing.assert_array_equal(seq, src.sequence(5, 64))
    with pytest.raises(ValueError, match="unknown data source"):
        data.make_source("wiki", 10, 0)


def _accuracy(predict, sequences: list[np.ndarray], skip: int) -> float:
    """Share of next tokens (after the first `skip` of each sequence) that `predict`,
    given the tokens before, gets right."""
    hits = total = 0
    for seq in sequences:
        for t in range(skip, len(seq)):
            hits += int(predict(seq[:t]) == seq[t])
            total += 1
    return hits / total


def test_sources_are_learnable(cfg):
    """Each source has the structure it promises, so a model can learn it: a predictor
    that knows only that structure (fitted on other sequences than it is scored on)
    beats chance (1 / vocab) by far on held-out sequences. Random tokens would not."""
    vocab = cfg.vocab_size
    seqs = {n: [data.make_source(n, vocab, seed=0).sequence(i, 64) for i in range(300)]
            for n in ("markov", "copy", "count")}
    # markov: the next token is one of 4 successors of the previous one (a bigram table).
    counts = np.zeros((vocab, vocab), np.int64)
    for seq in seqs["markov"][:250]:
        np.add.at(counts, (seq[:-1], seq[1:]), 1)
    assert (counts > 0).sum(axis=1).max() <= 4
    bigram = _accuracy(lambda prev: int(np.argmax(counts[prev[-1]])), seqs["markov"][250:], 1)
    assert bigram > 0.2 > 20 / vocab, bigram

    # copy: a phrase of 4-16 tokens repeated; its period shows in its first repetition.
    def copy(prev: np.ndarray) -> int:
        period = next(p for p in range(4, 17) if np.array_equal(prev[p:2 * p], prev[:p]))
        return int(prev[-period])

    assert _accuracy(copy, seqs["copy"], 32) == 1.0
    # count: an arithmetic progression mod vocab.
    assert _accuracy(lambda prev: int((2 * prev[-1] - prev[-2]) % vocab), seqs["count"], 2) == 1.0


@pytest.mark.parametrize("suffix", [".npy", ".bin"])
def test_token_file_windows(tmp_path, suffix):
    tokens = np.arange(100, dtype=np.uint16) % 37
    path = tmp_path / f"tokens{suffix}"
    if suffix == ".npy":
        np.save(path, tokens)
    else:
        tokens.tofile(path)
    src = data.make_source(f"file:{path}", 37, seed=0)
    np.testing.assert_array_equal(src.sequence(0, 10), tokens[:10])
    np.testing.assert_array_equal(src.sequence(3, 10), tokens[30:40])
    np.testing.assert_array_equal(src.sequence(10, 10), tokens[:10])  # wraps around
    with pytest.raises(ValueError, match="outside"):
        data.make_source(f"file:{path}", 20, seed=0).sequence(0, 30)
