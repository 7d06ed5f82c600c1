"""Deterministic data: synthetic and token-file sources, weighted mixing, shifting.

Every source is an indexed stream: `source.sequence(n, length)` is a pure
function of (seed, n). The `Mixture` gives each row to the source furthest
behind its weighted share (deterministic, within one row of exact at every
point) and keeps one counter per source, so its whole position is `state()`
-- a small dict saved with every checkpoint and given back to `restore()`.

Shift by truncation: a row holds seq_len + 1 tokens; inputs are the first
seq_len and targets the last seq_len, so no position is wasted on padding.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Protocol

import numpy as np

_SOURCE_SALT = {"markov": 1, "copy": 2, "count": 3}


class Source(Protocol):
    name: str

    def sequence(self, index: int, length: int) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class Synthetic:
    """Learnable synthetic text.

    kinds: "markov" (each token has 4 likely successors from a fixed table),
    "copy" (a random phrase repeated), "count" (arithmetic progressions mod V).
    """

    name: str
    vocab: int
    seed: int

    def sequence(self, index: int, length: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, _SOURCE_SALT[self.name], index])
        if self.name == "markov":
            table_Vx4 = _markov_table(self.vocab, self.seed)
            choice_L = rng.integers(0, 4, length)
            out = np.empty(length, np.int32)
            out[0] = rng.integers(self.vocab)
            for t in range(1, length):
                out[t] = table_Vx4[out[t - 1], choice_L[t]]
            return out
        if self.name == "copy":
            phrase = rng.integers(0, self.vocab, rng.integers(4, 17))
            return np.resize(phrase, length).astype(np.int32)
        if self.name == "count":
            start, stride = rng.integers(self.vocab), rng.integers(1, 4)
            return ((start + stride * np.arange(length)) % self.vocab).astype(np.int32)
        raise ValueError(f"unknown synthetic source {self.name!r}")


@dataclasses.dataclass(frozen=True)
class TokenFile:
    """Consecutive windows of a token file: `.npy`, or raw little-endian uint16."""

    name: str
    path: str
    vocab: int

    def sequence(self, index: int, length: int) -> np.ndarray:
        tokens = _open_tokens(self.path)
        windows = len(tokens) // length
        if windows == 0:
            raise ValueError(f"{self.path}: {len(tokens)} tokens, need at least {length}")
        start = (index % windows) * length
        out = np.asarray(tokens[start:start + length], dtype=np.int32)
        if out.max(initial=0) >= self.vocab or out.min(initial=0) < 0:
            raise ValueError(f"{self.path}: token ids outside [0, {self.vocab})")
        return out


@functools.lru_cache(maxsize=8)
def _markov_table(vocab: int, seed: int) -> np.ndarray:
    """The 4 likely successors of every token (fixed per seed)."""
    return np.random.default_rng([seed, 99]).integers(0, vocab, (vocab, 4))


@functools.lru_cache(maxsize=8)
def _open_tokens(path: str) -> np.ndarray:
    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r")
    return np.memmap(path, dtype="<u2", mode="r")


def make_source(spec: str, vocab: int, seed: int) -> Source:
    """"markov" | "copy" | "count" | "file:PATH" -> a Source."""
    if spec.startswith("file:"):
        return TokenFile(spec, spec[len("file:"):], vocab)
    if spec not in _SOURCE_SALT:
        raise ValueError(f"unknown data source {spec!r}: use {sorted(_SOURCE_SALT)} or file:PATH")
    return Synthetic(spec, vocab, seed)


def shift(tokens_BxL1: np.ndarray) -> dict[str, np.ndarray]:
    """Split rows of L + 1 tokens into inputs_BxL and targets_BxL (targets[t] = next token)."""
    return {"inputs": tokens_BxL1[:, :-1], "targets": tokens_BxL1[:, 1:]}


class Mixture:
    """Batches mixed from several sources by weight; deterministic and resumable."""

    def __init__(self, sources: list[Source], weights, batch: int, seq_len: int, seed: int):
        weights = np.asarray(weights, np.float64)
        if len(sources) != len(weights) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("need one non-negative weight per source, not all zero")
        self.sources, self.weights = sources, weights / weights.sum()
        self.batch, self.seq_len, self.seed = batch, seq_len, seed
        self.step = 0
        self.consumed = [0] * len(sources)

    def state(self) -> dict:
        """The position: enough to continue exactly where this iterator is."""
        return {"step": self.step, "consumed": list(self.consumed)}

    def restore(self, state: dict) -> None:
        if len(state["consumed"]) != len(self.sources):
            raise ValueError("data state has a different number of sources")
        self.step, self.consumed = int(state["step"]), [int(c) for c in state["consumed"]]

    def next_with_sources(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The next batch and, per row, the index of the source it came from.

        Each row goes to the source furthest behind its share (weight x rows so
        far), so after n rows every source has within one row of its share.
        """
        source_B = np.empty(self.batch, np.int64)
        rows = []
        for i in range(self.batch):
            seen = sum(self.consumed) + 1
            s = int(np.argmax(self.weights * seen - np.asarray(self.consumed)))
            rows.append(self.sources[s].sequence(self.consumed[s], self.seq_len + 1))
            self.consumed[s] += 1
            source_B[i] = s
        self.step += 1
        return shift(np.stack(rows)), source_B

    def __next__(self) -> dict[str, np.ndarray]:
        return self.next_with_sources()[0]

    def __iter__(self):
        return self


def make(cfg) -> Mixture:
    """The Mixture a Config describes (data_sources, data_weights, batch, seq_len, seed)."""
    sources = [make_source(s, cfg.vocab_size, cfg.seed) for s in cfg.data_sources]
    return Mixture(sources, cfg.data_weights, cfg.global_batch, cfg.seq_len, cfg.seed)
