"""How far downstream_lr's values move when only the last bits of the arithmetic change.

Run by hand (never by the test command):

    python bench/lr_sensitivity.py [--seeds 0 1 2 3 4] [--n-jobs -1]

The reference's logistic regression (LogisticRegressionCV, L-BFGS capped at 100
iterations) stops unconverged for many-class factors at large C, where its result
depends on the exact path L-BFGS took. This script scores the costless stand-in of
bench/metrics_speed.py per seed three ways:

* the reference;
* the reference on the same codes multiplied by (1 + 2^-52), a change in the 16th
  digit of about half of them: the reference's own sensitivity to rounding;
* the ``fast`` preset (the same algorithm, objective evaluated in C);

and prints, per training size, the largest |perturbed - reference| and
|fast - reference| over the accuracy keys.
"""

from __future__ import annotations

import argparse
import warnings

from metrics_speed import DSpritesLike, representation, scalars
from untwine.metrics import evaluate


def perturbed(observations):
    return representation(observations) * (1.0 + 2.0**-52)


def score(rep, seed, fast, n_jobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = evaluate(rep, DSpritesLike(), ["downstream_lr"], seed=seed, fast=fast, n_jobs=n_jobs)
    return scalars(out["downstream_lr"])


def gaps_by_size(a, b):
    out = {}
    for key in a:
        size = key.split(":")[0]
        out[size] = max(out.get(size, 0.0), abs(a[key] - b[key]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args()
    worst_self, worst_fast = {}, {}
    for seed in args.seeds:
        ref = score(representation, seed, False, args.n_jobs)
        self_gap = gaps_by_size(ref, score(perturbed, seed, False, args.n_jobs))
        fast_gap = gaps_by_size(ref, score(representation, seed, True, args.n_jobs))
        for size in self_gap:
            print(
                f"seed {seed} size {size:>5s}: reference vs itself perturbed {self_gap[size]:.4f}   "
                f"fast vs reference {fast_gap[size]:.4f}",
                flush=True,
            )
            worst_self[size] = max(worst_self.get(size, 0.0), self_gap[size])
            worst_fast[size] = max(worst_fast.get(size, 0.0), fast_gap[size])
    print(f"largest over seeds {args.seeds}:")
    for size in worst_self:
        print(
            f"  size {size:>5s}: reference vs itself perturbed {worst_self[size]:.4f}   "
            f"fast vs reference {worst_fast[size]:.4f}"
        )
    print(
        f"  all sizes >= 1000: itself {max(v for s, v in worst_self.items() if int(s) >= 1000):.4f}, "
        f"fast {max(v for s, v in worst_fast.items() if int(s) >= 1000):.4f}"
    )


if __name__ == "__main__":
    main()
