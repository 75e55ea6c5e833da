"""Shared representations for known-answer tests: identity, rotated, duplicated,
missing a factor, pure noise (train and test samples drawn independently)."""

import numpy as np


def draw(rng, n, sizes):
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1).astype(np.int64)


def standardise(f, sizes):
    sizes = np.asarray(sizes, float)
    return (f - (sizes - 1) / 2) / np.sqrt((sizes**2 - 1) / 12)


def rotation(d, seed=123):
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def case(name, f, sizes, rng):
    z = standardise(f, sizes)
    if name == "identity":
        return z
    if name == "rotated":
        return z @ rotation(z.shape[1])
    if name == "duplicated":
        return np.concatenate([z, z[:, :1]], axis=1)
    if name == "missing":
        return z[:, 1:]
    if name == "noise":
        return rng.standard_normal(z.shape)
    raise KeyError(name)


def train_test(name, sizes, n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    ft, fs = draw(rng, n_train, sizes), draw(rng, n_test, sizes)
    return case(name, ft, sizes, rng), ft, case(name, fs, sizes, rng), fs
