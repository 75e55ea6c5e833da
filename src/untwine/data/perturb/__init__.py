"""The perturbed datasets of seed 002 (§4–§5): same factors, ε-small changes that VAEs pick up.

x̃ = x + ε · f(s(x)) (seed 002, §4.2), so that ‖x̃ − x‖∞ ≤ ε (Eq. 5), where

- s(x) = μ_j(x), the posterior mean of the latent j with the least average
  posterior variance, j = argmin_k E_x[σ²_k(x)] (seed 002, Eq. 6; "the latent with
  the least noise injected"), estimated on ``num_points`` observations drawn
  with ``seed``, of the β-VAE run with the lowest MIG among several restarts
  (§4 step (i): :func:`perturb_lowest_mig`; :func:`perturb` takes the one run given);
- f(s) shifts a fixed random pattern p ∈ {−1, 1}^{P×W} vertically with s, column by
  column (seed 002, §4.2): f(s)_{i,j} = p_{(round(r(s)/c_j) + i) mod P, j} with column
  factors c_j drawn uniformly from {1, 2, 3, 4}, so that column j moves by one row
  each time r(s) crosses c_j rows: information about s on several scales. The same
  pattern is added to every channel.

**What a model sees.** The paper adds the pattern without clipping, and so does
untwine by default (``clip=False``): pixels lie in [−ε, 1 + ε], outside the [0, 1] of
the data contract. On binary dSprites the background becomes ±ε and the object 1 ± ε,
the full pattern. With ``clip=True`` the result is clipped to [0, 1] (untwine's
behaviour before; descriptions of version 1 mean it): the background then only gets
+ε and the object only −ε, which halves the pattern's amplitude and quarters its
variance, so the paper's ε ≈ 0.1 crossover does not carry over. Unclipped targets
outside [0, 1] change the Bernoulli likelihood (the reference's sigmoid cross-entropy
on logits): per pixel, softplus(l) − t·l with t > 1 (or t < 0) has no minimum, it
falls by |t − clip(t, 0, 1)| per unit of logit forever, so a decoder that predicts the
pattern's sign at a pixel is rewarded without bound. The Gaussian likelihood (squared
error) is bounded below for any target. ``rescale=True`` keeps the whole perturbation and the
[0, 1] range: x̃ is mapped affinely from [−ε, 1 + ε] onto [0, 1], (x̃ + ε)/(1 + 2ε), so the
background becomes ε/(1 + 2ε) ± ε/(1 + 2ε) and the object (1 + ε)/(1 + 2ε) ± ε/(1 + 2ε): the
perturbation keeps its size relative to the image's contrast (ε), every statistic of figure 4
is scaled by the same factor (its crossovers do not move), and the Bernoulli likelihood is
bounded again (untwine's trainer warns when it meets Bernoulli targets outside [0, 1]).
``clip`` and ``rescale`` exclude each other.

**Scaling of s to pixel rows.** r(s) = H · (s − s₀₁) / (s₉₉ − s₀₁), with s₀₁ and s₉₉
the 1st and 99th percentiles of s over the estimation sample and H the image
height: the central 98 % of the data sweeps the pattern over one image height in
the columns with c_j = 1 (a quarter of that in those with c_j = 4). The pattern
has P = 4H rows and wraps around, so values far outside the sample range alias.

``kind="uniform"`` is the control of seed 002, §5.3, "contaminating each image with
pixel-wise uniform noise between [−ε, ε]": each image is contaminated once, so the noise
is fixed per image, a function of ``(seed, flat index of its factors, pixel)`` (the base
dataset's ``factors_to_index``; :func:`hashed_uniform`), the same at every ``observe``. It
needs no representation, and is clipped only with ``clip=True``.

:class:`PatternFactor` (registry name ``pattern-factor``) is the dataset of seed 002's §5.2 and
figure 4: the same pattern, driven not by s(x) but by an extra factor s, uniform with zero
mean and unit variance and independent of the others, so that its effect on the data's
statistics (:mod:`untwine.data.statistics`) and on a trained model can be isolated.

A perturbed dataset describes itself as JSON (:meth:`PerturbedDataset.describe`,
:meth:`~PerturbedDataset.save`; version 3): the base dataset's :meth:`spec`, the latent, ε,
kind, seed, ``clip``, ``rescale``, scaling and an opaque ``run_dir`` string that names the run
whose encoder computes s (and, from :func:`perturb_lowest_mig`, the candidates' MIGs). A
version-1 description (no ``clip``) was clipped and is read with ``clip=True``; a version-2
one (no ``rescale``) is read with ``rescale=False``.
:func:`read_description` reads and checks such a file and
:meth:`PerturbedDataset.from_description` rebuilds the dataset from it, given the
posterior function. The data room never opens a run (it imports nothing above
it): ``untwine.runs.load_dataset(path)`` does read_description, loads the run's
model, then from_description.

**Layout.** :mod:`~untwine.data.perturb.patterns` holds the maths (the pattern, its shift, the scaling, the uniform
noise, the range), :mod:`~untwine.data.perturb.datasets` the two datasets, :mod:`~untwine.data.perturb.selection`
the choice of the latent and of the run (:func:`perturb`, :func:`perturb_lowest_mig`) and
:mod:`~untwine.data.perturb.files` the description file; every public name is importable from here.
"""

from .datasets import PatternFactor, Posterior, PerturbedDataset, from_description
from .files import FORMAT, VERSION, description_clip, read_description
from .patterns import KINDS, fit_range, hashed_uniform, pattern, scaling_for, shifted_pattern
from .selection import lowest_mig, perturb, perturb_lowest_mig

__all__ = [
    "FORMAT",
    "KINDS",
    "VERSION",
    "PatternFactor",
    "Posterior",
    "PerturbedDataset",
    "description_clip",
    "fit_range",
    "from_description",
    "hashed_uniform",
    "lowest_mig",
    "pattern",
    "perturb",
    "perturb_lowest_mig",
    "read_description",
    "scaling_for",
    "shifted_pattern",
]
