"""Seconds per metric at the reference parameters, and with ``fast=True``.

Run by hand (never by the test command):

    python bench/metrics_speed.py [--metrics all] [--seed 0] [--n-jobs -1] [--skip-reference]
                                  [--reference-json ref.json] [--show 5]

Data: a dSprites-like ground-truth space (factor sizes 3, 6, 40, 32, 32, the
dSprites factors), observed as the vector of its factor indices, so that
observation costs nothing (``--run RUN_DIR`` scores a trained run's encoder on its
dataset instead, where encoding dominates the sampled metrics). Representation: 10 codes that cost nothing: the five
standardised factors, slightly mixed and with a deterministic wobble, plus five
nuisance codes. The printout gives seconds per metric, the total, the same with
``fast``, the largest |fast − reference| over each metric's scalar keys (against
the documented 0.02), and the keys with the largest deviations with both values.

With ``--run``, each metric's time is split into encoding (rendering and the encoder,
through the code cache that encodes each distinct observation once per model and is
shared by every metric and both presets) and classifying (everything else); ``--no-cache``
encodes every draw, as a metric alone would.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from untwine.metrics import evaluate, expand_metric_names


class DSpritesLike:
    name = "dsprites_like"
    factor_names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    factor_sizes = (3, 6, 40, 32, 32)
    observation_shape = (5,)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def observe(self, factors, rng):
        return np.asarray(factors, dtype=np.float32)


_SIZES = np.array(DSpritesLike.factor_sizes, dtype=np.float64)
_MIX = np.eye(5) + 0.1 * np.random.default_rng(7).standard_normal((5, 5))


def representation(observations: np.ndarray) -> np.ndarray:
    z = (observations - (_SIZES - 1) / 2) / np.sqrt((_SIZES**2 - 1) / 12)
    main = z @ _MIX + 0.05 * np.sin(7.0 * z[:, ::-1])
    nuisance = 0.3 * np.cos(np.arange(1, 6) * z.sum(axis=1, keepdims=True))
    return np.concatenate([main, nuisance], axis=1)


TOLERANCE = 0.02  # the documented bound on |fast - reference|


_TARGETS: dict = {}


def target(run_dir, cache=True):
    """(representation, data, cache or None): the costless stand-in, or a trained run's encoder and dataset
    (one code cache per run directory, shared by every metric and preset)."""
    if not run_dir:
        return representation, DSpritesLike(), None
    if (run_dir, cache) not in _TARGETS:
        from untwine.metrics.cache import CodeCache, cacheable
        from untwine.runs import load_dataset, load_model

        model, config = load_model(run_dir)
        data = load_dataset(config.dataset, config.dataset_options)
        if cache and cacheable(data):
            codes = CodeCache.for_model(model, data)  # the codes alone for a deterministic model
            _TARGETS[(run_dir, cache)] = (codes.representation, codes.data, codes)
        else:
            _TARGETS[(run_dir, cache)] = (_Timed(model.representation()), data, None)
    return _TARGETS[(run_dir, cache)]


class _Timed:
    """A representation that counts the seconds spent in it (the uncached encoder)."""

    def __init__(self, function):
        self.function, self.encode_seconds = function, 0.0

    def __call__(self, observations):
        start = time.perf_counter()
        try:
            return self.function(observations)
        finally:
            self.encode_seconds += time.perf_counter() - start


def run(names, fast, seed, n_jobs, run_dir=None, cache=True):
    rep, data, codes = target(run_dir, cache)
    timer = codes if codes is not None else rep if isinstance(rep, _Timed) else None
    results, seconds, encoding = {}, {}, {}
    for name in names:
        before = timer.encode_seconds if timer is not None else 0.0
        start = time.perf_counter()
        results.update(evaluate(rep, data, [name], seed=seed, fast=fast, n_jobs=n_jobs))
        seconds[name] = time.perf_counter() - start
        encoding[name] = (timer.encode_seconds - before) if timer is not None else 0.0
        if timer is not None:
            print(
                f"  {name:26s} {seconds[name]:8.2f} s  (encoding {encoding[name]:7.2f} s, classifying "
                f"{seconds[name] - encoding[name]:7.2f} s)",
                flush=True,
            )
        else:
            print(f"  {name:26s} {seconds[name]:8.2f} s", flush=True)
    total, encoded = sum(seconds.values()), sum(encoding.values())
    print(
        f"  {'total':26s} {total:8.2f} s"
        + (f"  (encoding {encoded:7.2f} s, classifying {total - encoded:7.2f} s)" if timer is not None else ""),
        flush=True,
    )
    if codes is not None:
        print(
            f"  code cache: {codes.encoded} observations encoded so far ({100 * codes.fraction_encoded:.1f}% of "
            f"the factor grid)",
            flush=True,
        )
    return results, seconds


def scalars(result):
    return {
        k: v
        for k, v in result.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("seed",)
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metrics", nargs="+", default=["all"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--reference-json", help="reuse (if it exists) or save the reference results here")
    parser.add_argument("--show", type=int, default=5, help="keys shown per metric with a fast deviation")
    parser.add_argument(
        "--run",
        help="score this trained run directory (its encoder and dataset) instead of "
        "the costless stand-in representation",
    )
    parser.add_argument("--no-cache", action="store_true", help="with --run: encode every draw (no code cache)")
    args = parser.parse_args()
    names = expand_metric_names(args.metrics)
    reference = None
    cached = args.reference_json and os.path.exists(args.reference_json)
    if cached:
        with open(args.reference_json) as f:
            reference = json.load(f)
        if any(name not in reference or reference[name].get("seed") != args.seed for name in names):
            raise SystemExit(f"{args.reference_json} lacks some metric or seed {args.seed}; delete it to recompute")
        print(f"reference results read from {args.reference_json}")
    elif not args.skip_reference:
        print("reference parameters:")
        reference, _ = run(names, False, args.seed, args.n_jobs, args.run, not args.no_cache)
        if args.reference_json:
            with open(args.reference_json, "w") as f:
                json.dump(reference, f)
    print("fast preset:")
    fast, _ = run(names, True, args.seed, args.n_jobs, args.run, not args.no_cache)
    if reference is not None:
        print(f"largest |fast - reference| per metric (scalar keys; goal <= {TOLERANCE}):")
        for name in names:
            ref, got = scalars(reference[name]), scalars(fast[name])
            gaps = sorted(((abs(got[k] - ref[k]), k) for k in ref if k in got), reverse=True)
            worst = gaps[0] if gaps else (0.0, "-")
            flag = "ok" if worst[0] <= TOLERANCE else "ABOVE GOAL"
            print(f"  {name:26s} {worst[0]:.4f} ({worst[1]}) {flag}")
            if worst[0] > 0:  # the next largest, and each key's values, for the metrics with a fast variant
                for gap, key in gaps[: args.show]:
                    print(f"      {key:36s} reference {ref[key]:.4f}  fast {got[key]:.4f}  |diff| {gap:.4f}")
    return reference, fast


if __name__ == "__main__":
    main()
