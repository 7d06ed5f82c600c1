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


def test_sources_are_in_vocab_and_learnable(cfg):
    for name in ("markov", "copy", "count"):
        src = data.make_source(name, cfg.vocab_size, seed=0)
        seq = src.sequence(5, 64)
        assert seq.shape == (64,) and 0 <= seq.min() and seq.max() < cfg.vocab_size
        np.testing.assert_array_equal(seq, src.sequence(5, 64))
    count = data.make_source("count", 50, seed=0).sequence(0, 10)
    assert len(set(np.diff(count) % 50)) == 1
    with pytest.raises(ValueError, match="unknown data source"):
        data.make_source("wiki", 10, 0)


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
