"""The words of the analyses (:mod:`untwine.study.analyses`): the columns an analysis needs, the scores it reads,
what regularises each method, the representations and the label of pooled rows, and the error an analysis raises.

* a **score** (:class:`Score`) is one number per run: a (metric, key) pair of the table on
  one representation (``mean`` unless the score says otherwise), or a training summary
  column (``reconstruction``, ``kl``, ``elbo``);
* a method's **regularisation strength** is the one hyperparameter the reference grid
  varies for it (:data:`REGULARISATION`: β for β-VAE and β-TCVAE, γ for FactorVAE, C_max
  for AnnealedVAE, λ_od for DIP-VAE-I/II); its value is the run's ``value``;
* a **setting** and a **cell** are defined by the table's runs (:mod:`untwine.study.table`).

Constants and one small class: no table is read here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "REQUIRED",
    "REGULARISATION",
    "WEAKER_WHEN_LARGER",
    "MEAN",
    "SAMPLED",
    "ALL_DATASETS",
    "AnalysisError",
    "Score",
    "SUPERVISED",
    "PAPER_METRICS",
    "PAPER_SUPERVISED",
    "UNSUPERVISED",
    "WEAK_UNSUPERVISED",
    "RECENT_SUPERVISED",
    "DOWNSTREAM_SIZES",
    "DOWNSTREAM_PREDICTORS",
]

#: The columns an analysis cannot do without.
REQUIRED = ("dataset", "model", "seed", "representation", "metric", "key", "value")
#: method -> the hyperparameter column the reference grid varies (docs/reference.md, "Grids").
REGULARISATION = {
    "beta-vae": "param.beta",
    "beta-tcvae": "param.beta",
    "factor-vae": "param.gamma",
    "annealed-vae": "param.c_max",
    "dip-vae-i": "param.lambda_od",
    "dip-vae-ii": "param.lambda_od",
}
#: Methods whose hyperparameter regularises *less* as it grows: AnnealedVAE's capacity C_max
#: lets more information through the bottleneck. Only the summary's direction uses this.
WEAKER_WHEN_LARGER = frozenset({"annealed-vae"})

#: The two representations a run is scored on: the posterior mean (the one usually scored) and a sample.
MEAN, SAMPLED = "mean", "sampled"
#: The label of pooled rows (all datasets together).
ALL_DATASETS = "all datasets"


class AnalysisError(ValueError):
    """An analysis cannot be computed from this table; the message says what is missing."""


@dataclass(frozen=True)
class Score:
    """One number per run: ``metric``/``key`` of the table, or a training summary column.

    Attributes
    ----------
    name
        The score's label in the analyses' results.
    metric, key
        The metric and key of the table; ``key=None`` stands for every key the table has for
        ``metric`` (UDR's key depends on the study).
    representation
        The representation it is read on (None: the analysis's representation).
    column
        A training summary column (``reconstruction``, ``kl``, ``elbo``) instead of a metric.
    direction
        +1 when a larger value is better, -1 when smaller is (reconstruction loss); the
        correlations are reported as computed, this is for reading them.
    """

    name: str
    metric: str | None = None
    key: str | None = None
    representation: str | None = None
    column: str | None = None
    #: +1 when a larger value is better, -1 when smaller is (reconstruction loss); the
    #: correlations are reported as computed, this is for reading them.
    direction: int = 1

    def describe(self) -> str:
        if self.column:
            return f"training column {self.column!r}"
        rep = f", {self.representation} representation" if self.representation else ""
        return f"{self.metric}/{self.key or '*'}{rep}"


#: The supervised disentanglement scores of seed 001 (plus IRS, which its JMLR version adds).
SUPERVISED = (
    Score("BetaVAE", "beta_vae", "eval_accuracy"),
    Score("FactorVAE", "factor_vae", "eval_accuracy"),
    Score("MIG", "mig", "discrete_mig"),
    Score("DCI", "dci", "disentanglement"),
    Score("Modularity", "modularity_explicitness", "modularity_score"),
    Score("SAP", "sap", "SAP_score"),
    Score("IRS", "irs", "IRS"),
)
#: The six metrics of seed 001's study (ICML 2019): its agreement matrix and its selection percentages
#: (80.7 / 59.3 / 54.9 %) are over these. IRS (Suter et al. 2019, added by the JMLR version) is shown
#: beside them, never pooled into a number compared with a published one.
PAPER_METRICS = ("BetaVAE", "FactorVAE", "MIG", "DCI", "Modularity", "SAP")
PAPER_SUPERVISED = tuple(s for s in SUPERVISED if s.name in PAPER_METRICS)
#: Scores that need no labels (item 4 of issue 15): the training losses, the unsupervised
#: metrics (on the mean representation), the Gaussian TC of the sampled representation, UDR.
UNSUPERVISED = (
    Score("Reconstruction", column="reconstruction", direction=-1),
    Score("KL", column="kl", direction=-1),
    Score("ELBO", column="elbo"),
    Score("TC (sampled)", "unsupervised", "gaussian_total_correlation", SAMPLED, direction=-1),
    Score("TC (mean)", "unsupervised", "gaussian_total_correlation", direction=-1),
    Score("WC (mean)", "unsupervised", "gaussian_wasserstein_correlation", direction=-1),
    Score("WC norm (mean)", "unsupervised", "gaussian_wasserstein_correlation_norm", direction=-1),
    Score("MI (mean)", "unsupervised", "mutual_info_score", direction=-1),
    Score("UDR", "udr", None),
)
#: The label-free selection scores of weakly-supervised models (Locatello et al. 2020, §5): their loss on held-out
#: pairs (``untwine.runs.pair_loss``). Used where the table has them (studies with paired objectives).
WEAK_UNSUPERVISED = (  # a property of the model, stored with its mean scores: it selects for either representation
    Score("Pair ELBO (held out)", "pair_elbo", "elbo", MEAN),
    Score("Pair reconstruction (held out)", "pair_elbo", "reconstruction", MEAN, direction=-1),
)
#: The supervised scores of the quantized-latent papers: InfoM, InfoC and InfoE (Hsu et al. 2023, NeurIPS) and the
#: explicitness E of DCI-ES (Eastwood et al. 2023, ICLR). Added to :data:`SUPERVISED` where the table has them
#: (studies that score ``infomec`` or ``dci_es``); never among the paper's six.
RECENT_SUPERVISED = (
    Score("InfoM", "infomec", "infom"),
    Score("InfoC", "infomec", "infoc"),
    Score("InfoE", "infomec", "infoe"),
    Score("DCI-ES E", "dci_es", "explicitness"),
)
DOWNSTREAM_SIZES = (10, 100, 1000, 10000)
#: label -> metric name of the table.
DOWNSTREAM_PREDICTORS = {"LR": "downstream_lr", "GBT": "downstream_gbt"}
