"""Study specs shipped with untwine: ``untwine study presets`` lists them, ``untwine study init
NAME > my.toml`` writes one to edit, and ``untwine study run NAME --out DIR`` runs one as it is.

Each preset is a function whose docstring says what it is for and why it is built the way
it is; it returns the spec's TOML text (kept as text here, so that the comments reach the
file a user edits).
"""

from __future__ import annotations

__all__ = [
    "PRESETS",
    "preset_text",
    "describe",
    "laptop",
    "laptop_weak",
    "unsupervised_study_v1",
    "weakly_supervised_study",
]


_REFERENCE_METRICS = (
    '["beta_vae", "factor_vae", "mig", "dci", "modularity_explicitness", "sap", "unsupervised", '
    '"downstream_lr", "downstream_gbt"]'
)

_UNSUPERVISED_STUDY_V1 = f"""\
# unsupervised_study_v1: the reference grid of Locatello et al. (2019), "Challenging common
# assumptions in the unsupervised learning of disentangled representations" (docs/reference.md):
# 7 datasets x 6 methods x 6 values x 50 seeds = 12,600 models, 300,000 steps each, scored on the
# mean and the sampled representation with the reference metrics at their reference parameters.
# On 2 CPU cores one model trains in about 6 hours: this is a study for a cluster (see the
# [executor] section at the end, and docs/studies.md).
#
# The training set-up is RunConfig's default, the reference one: 64x64 images, 10 latents, batch 64,
# Adam lr 1e-4 (beta1 0.9, beta2 0.999, eps 1e-8), Bernoulli likelihood.
# smallnorb, cars3d and shapes3d-h5 read the published files, and scream-dsprites the painting, from
# the data directory (untwine data list says where); dsprites and its colour and noise variants are
# rendered here.

name = "unsupervised_study_v1"
description = "The reference grid of Locatello et al. (2019): 12,600 models, for a cluster."
seeds = 50
datasets = ["dsprites", "color-dsprites", "noisy-dsprites", "scream-dsprites", "smallnorb", "cars3d", "shapes3d-h5"]
representations = ["mean", "sampled"]

[train]
steps = 300000

[model]
latent_dim = 10

[[methods]]
model = "beta-vae"
grid = {{beta = [1, 2, 4, 6, 8, 16]}}

[[methods]]
model = "annealed-vae"            # loss = recon + gamma |KL - C|, C grows linearly to c_max over 100,000 steps
grid = {{c_max = [5, 10, 25, 50, 75, 100]}}
params = {{gamma = 1000, iteration_threshold = 100000}}

[[methods]]
model = "factor-vae"              # discriminator: MLP 6x1000, Adam lr 1e-4, betas (0.5, 0.9)
grid = {{gamma = [10, 20, 30, 40, 50, 100]}}

[[methods]]
model = "dip-vae-i"               # lambda_d = 10 lambda_od
grid = {{lambda_od = [1, 2, 5, 10, 20, 50]}}
params = {{lambda_d_factor = 10}}

[[methods]]
model = "dip-vae-ii"              # lambda_d = lambda_od
grid = {{lambda_od = [1, 2, 5, 10, 20, 50]}}
params = {{lambda_d_factor = 1}}

[[methods]]
model = "beta-tcvae"              # TC by minibatch weighted sampling
grid = {{beta = [1, 2, 4, 6, 8, 10]}}
params = {{estimator = "mws"}}

[metrics]
names = {_REFERENCE_METRICS}
fast = false                      # the reference parameters and algorithms
seed = 0

[udr]                             # Duan et al. (2020), over the 50 seeds of each cell
enabled = true
num_points = 1000
correlation = "lasso"

[executor]
kind = "ray"
address = "auto"                  # the Ray cluster this machine belongs to; or "host:port"
threads_per_run = 1               # CPUs per run (a Ray task's num_cpus)
num_gpus = 0                      # e.g. 0.25 to share one GPU between four runs
max_retries = 3
"""

#: the scoring, UDR and executor sections of both laptop presets
_LAPTOP_SCORING = """\
[metrics]
names = ["beta_vae", "factor_vae", "mig", "dci", "modularity_explicitness", "sap", "unsupervised", "downstream_lr"]
fast = true
seed = 0

[metrics.params]
num_train = 1000                  # every metric that has num_train, except those set below
num_test = 500

[metrics.params.beta_vae]         # each point encodes 2 x 64 images: 150 points = 19,200 images
num_train = 100
num_eval = 50

[metrics.params.factor_vae]       # each vote encodes 64 images
num_train = 100
num_eval = 50
num_variance_estimate = 2000

[metrics.params.downstream_lr]
num_train = [10, 100, 1000]

[udr]
enabled = true
num_points = 1000

[executor]
kind = "local"
workers = 2
threads_per_run = 1
"""

_LAPTOP = """\
# laptop: a small study that finishes on 2 CPU cores in under 45 minutes and gives every analysis
# of a study something to say (untwine.study.presets.laptop explains the choices).
#
# 2 datasets x 2 methods x 2 values x 2 seeds = 16 runs of 1,000 steps (lr 1e-3), scored on the mean
# and the sampled representation with the reference metrics at reduced sample sizes (fast presets).

name = "laptop"
description = "16 small runs on dSprites and Color-dSprites, for 2 CPU cores in under 45 minutes."
seeds = 2
datasets = ["dsprites", "color-dsprites"]
representations = ["mean", "sampled"]

[train]
steps = 1000
lr = 1e-3
checkpoint_every = 250

[model]
latent_dim = 10

[[methods]]
model = "beta-vae"
grid = {beta = [1, 8]}

[[methods]]
model = "beta-tcvae"              # not beta = 1: beta-TCVAE at beta = 1 is beta-VAE at beta = 1, the same runs
grid = {beta = [2, 8]}

"""
_LAPTOP += _LAPTOP_SCORING


_BETAS = "[1, 2, 4, 6, 8, 16]"
_K_PER_DATASET = (
    "{dsprites = [1, 2, 3, 4, -1], smallnorb = [1, 2, 3, -1], cars3d = [1, 2, -1], shapes3d-h5 = [1, 2, 3, 4, 5, -1]}"
)

_WEAKLY_SUPERVISED_STUDY = f"""\
# weakly_supervised_study: the grid of Locatello et al. (2020), "Weakly-Supervised Disentanglement Without
# Compromises" (ICML), on the datasets of the 2019 study that it uses (docs/objectives.md, "Weak supervision"):
# pairs that differ in k factors, k = 1 ... K - 1 fixed or drawn per pair (k = -1, the paper's "k = Rnd"),
# K the dataset's number of factors; the paper aggregates its results over every k.
# 4 datasets x (beta-vae 6 + ada-gvae 6 x k + ada-ml-vae 6 x k + gvae-labels 6 + ml-vae-labels 6) x 10 seeds
# = 2,880 models, 300,000 steps each at the reference set-up of the 2019 study, which the paper keeps.
# Scored on the mean representation (the paper's), with the reference metrics and, for the paired methods, the
# held-out pair ELBO (pair_elbo), the paper's label-free selection score. For a cluster.
#
# Not here: MPI3D, the paper's fifth dataset (add "mpi3d-real" with k = [1, 2, 3, 4, 5, 6, -1]).

name = "weakly_supervised_study"
description = "The weakly-supervised grid of Locatello et al. (2020): 2,880 models, for a cluster."
seeds = 10
datasets = ["dsprites", "smallnorb", "cars3d", "shapes3d-h5"]
representations = ["mean"]

[train]
steps = 300000

[model]
latent_dim = 10

[[methods]]
model = "beta-vae"                # the unsupervised baseline, one observation per example
grid = {{beta = {_BETAS}}}

[[methods]]
model = "ada-gvae"                # pairs; shared latents found by the KL threshold, GroupVAE average
grid = {{beta = {_BETAS}, k = {_K_PER_DATASET}}}

[[methods]]
model = "ada-ml-vae"              # the same, ML-VAE average (product of the two Gaussians)
grid = {{beta = {_BETAS}, k = {_K_PER_DATASET}}}

[[methods]]
model = "gvae-labels"             # k = 1 and the changed factor's index given: an upper reference
grid = {{beta = {_BETAS}}}

[[methods]]
model = "ml-vae-labels"
grid = {{beta = {_BETAS}}}

[metrics]
names = {_REFERENCE_METRICS}
fast = false
seed = 0

[udr]
enabled = true
num_points = 1000
correlation = "lasso"

[executor]
kind = "ray"
address = "auto"
threads_per_run = 1
num_gpus = 0
max_retries = 3
"""

_LAPTOP_WEAK = """\
# laptop_weak: weak supervision against none on 2 CPU cores in under an hour
# (untwine.study.presets.laptop_weak explains the choices).
#
# 2 datasets x 2 methods (beta-vae on single observations, ada-gvae on pairs with k drawn per pair)
# x 2 values x 2 seeds = 16 runs of 1,000 steps (lr 1e-3), scored on the mean representation with the reference
# metrics at reduced sample sizes and, for ada-gvae, the held-out pair ELBO.

name = "laptop_weak"
description = "16 small runs, beta-VAE against Ada-GVAE on dSprites and Color-dSprites, for 2 CPU cores."
seeds = 2
datasets = ["dsprites", "color-dsprites"]
representations = ["mean"]

[train]
steps = 1000
lr = 1e-3
checkpoint_every = 250

[model]
latent_dim = 10

[[methods]]
model = "beta-vae"
grid = {beta = [1, 8]}

[[methods]]
model = "ada-gvae"                # k = -1 (its default): 1 ... K - 1 factors change, drawn per pair
grid = {beta = [1, 8]}

"""
_LAPTOP_WEAK += _LAPTOP_SCORING


def unsupervised_study_v1() -> str:
    """The reference grid of Locatello et al. (2019) exactly (docs/reference.md): dSprites, Color-dSprites,
    Noisy-dSprites, Scream-dSprites, SmallNORB, Cars3D and Shapes3D; β-VAE, AnnealedVAE, FactorVAE, DIP-VAE-I,
    DIP-VAE-II and β-TCVAE with their six values each; 50 seeds; 300,000 steps at the reference set-up; the
    reference metrics with reference parameters on the mean and the sampled representation; UDR per cell.
    12,600 runs: for a Ray cluster (``address = "auto"``). Shapes3D is the published file (``shapes3d-h5``),
    because the rendered ``shapes3d`` reproduces the grid but not the published pixels."""
    return _UNSUPERVISED_STUDY_V1


def laptop() -> str:
    """A study for a 2-core laptop, in under 45 minutes, that gives every analysis something to say.

    - Two datasets (dSprites, Color-dSprites), both rendered here with no download, so that the same-metric-
      across-datasets correlation and the transfer of a hyperparameter choice to another dataset have two
      datasets to compare.
    - Two methods with a weak and a strong regulariser each (β-VAE β ∈ {1, 8}; β-TCVAE β ∈ {2, 8}): the
      Gaussian TC of the sampled against the mean representation moves with regularisation strength, and
      score distributions per method and per value have two of each. β-TCVAE's weak value is 2, not 1: its
      objective is KL + (β − 1)·TC, so at β = 1 it is the β-VAE at β = 1, and a grid with β = 1 for both
      trains the same 4 runs twice (the laptop study of experiments/locatello2019 was trained so, before this
      change: its README says what the duplicates did to its numbers).
    - Two seeds: the seed spread next to the hyperparameter spread, and UDR (which needs two models per cell).
    - 1,000 steps at lr 1e-3 (the quick preset's rate): enough for the reconstruction and the KL to move apart
      between β = 1 and β = 8, and for the sampled representation's TC to fall with β, which is what the
      unsupervised scores and the TC analysis read.
    - Every reference metric but the boosted-trees downstream task, fast presets, sample sizes reduced:
      1,000 training and 500 test points; the β-VAE and FactorVAE scores, which encode 128 and 64 images
      per point, 100 training and 50 evaluation points (2,000 points for FactorVAE's global variance);
      downstream logistic regression at 10, 100 and 1,000 points (no 10,000: the sample-efficiency ratio
      100 / 10,000 is left to bigger studies). Measured per representation on a busy machine (load
      average 4 on 2 cores), in one process: β-VAE score 6–12 s and FactorVAE score 6 s (encoding), DCI
      3 s, downstream_lr 9–12 s, the others 1–3 s each, about 35 s, plus about 10 s once per process when
      joblib starts its workers.
    - 2 workers × 1 thread: scoring, half of a run's time here, is mostly single-threaded (NumPy, scikit-learn),
      so a second worker keeps the second core busy while the first scores; training alone is as fast either way
      in bf16 (two 1-thread runs at 940–1,000 images/s each against one 2-thread run at about 2,000).
    - Time: run to completion (with the earlier grid, β-TCVAE β ∈ {1, 8}: the same architectures and steps) on a
      2-core Intel Xeon with AMX (bf16), 2,017 s (34 minutes) for the 16 runs, UDR and the results table, while 2 to 4 other training processes shared the cores: each run 124–203 s of
      training and 48–80 s of scoring. Under 45 minutes even so; ``untwine study plan laptop`` measures the step
      on the machine at hand.

    Measured figures, the command and the CPU: docs/studies.md, "Measured".
    """
    return _LAPTOP


def weakly_supervised_study() -> str:
    """The weakly-supervised grid of Locatello et al. (2020) on dSprites, SmallNORB, Cars3D and Shapes3D: 2,880 runs.

    - Pairs as the paper's §5 builds them: k factors resampled to other values, k fixed at each of 1 … K − 1 or
      drawn per pair (``k = -1``), K the dataset's number of factors (5, 4, 3 and 6 here), so the ``k`` grid is
      given per dataset; the paper aggregates its results over all of them.
    - Ada-GVAE and Ada-ML-VAE over β ∈ {1, 2, 4, 6, 8, 16} and every k; β-VAE over the same β as the unsupervised
      baseline; the two labels variants (k = 1 and the changed factor known) over the same β, the reference the
      paper's adaptive methods are measured against.
    - 10 seeds per setting and the training set-up of the 2019 study (300,000 steps, batch 64, Adam lr 10⁻⁴,
      10 latents), which the paper keeps; Shapes3D as the published file (``shapes3d-h5``).
    - The mean representation, the reference metrics at reference parameters, UDR per cell, and the held-out pair
      ELBO of every paired run (``pair_elbo``), which the analyses' unsupervised model selection reads.
    - MPI3D, the paper's fifth dataset, is left out because it is not a dataset of the 2019 study; the spec's
      comment says how to add it.

    The values of β, the seeds and the set-up are those of the 2019 study, which the paper states it follows;
    the k range and the "k = Rnd" setting are its §5's. ``untwine study plan weakly_supervised_study`` shows the
    run count.
    """
    return _WEAKLY_SUPERVISED_STUDY


def laptop_weak() -> str:
    """Weak supervision against none on a 2-core laptop: β-VAE and Ada-GVAE, 16 runs.

    - The ``laptop`` preset's datasets (dSprites, Color-dSprites, rendered here), training (1,000 steps at lr 10⁻³)
      and metric settings, so that its numbers sit next to the laptop study's.
    - β-VAE on single observations against Ada-GVAE on pairs with k drawn per pair (the paper's setting that
      needs no knowledge of k), each at β ∈ {1, 8}: the comparison of the paper at the smallest size that still
      gives the analyses two values, two seeds (UDR, seed spread) and two datasets (transfer).
    - The mean representation only: a paired step encodes twice the observations, so training costs more than in
      ``laptop``, and the second representation's scoring is what is given up to stay within the hour.
    - Ada-GVAE's runs also record the held-out pair ELBO, which the report's unsupervised model selection uses.

    Measured figures, the command and the CPU: docs/studies.md, "Measured".
    """
    return _LAPTOP_WEAK


PRESETS = {
    "laptop": laptop,
    "laptop_weak": laptop_weak,
    "unsupervised_study_v1": unsupervised_study_v1,
    "weakly_supervised_study": weakly_supervised_study,
}


def preset_text(name: str) -> str:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None


def describe(name: str) -> str:
    """The first line of a preset's docstring ("" for a preset without one)."""
    lines = (PRESETS[name].__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""
