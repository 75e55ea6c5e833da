"""untwine.metrics: every disentanglement metric of the seeds, reference-comparable.

Array-level cores are pure functions of codes (n, d) and integer factors (n, K);
``evaluate`` samples a dataset through a representation and runs any of
``METRICS``. See docs/metrics.md.
"""

from ._validate import CollapsedRepresentation
from ._discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from .evaluate import METRICS, evaluate, expand_metric_names, flatten, metric_parameters, required_inputs
from .elbo import elbo_decomposition
from .active_units import active_units
from .beta_vae import beta_vae_score
from .dci import dci
from .dci_es import dci_es
from .downstream import downstream
from .factor_vae import factor_vae_score
from .infomec import infomec
from .irs import irs
from .mig import mig
from .mig_exact import mig_exact
from .modularity import modularity_explicitness
from .sap import sap
from .sparsity import hoyer_sparsity
from .udr import sample_udr, udr
from .unsupervised import unsupervised

__all__ = [
    "METRICS",
    "CollapsedRepresentation",
    "evaluate",
    "expand_metric_names",
    "flatten",
    "metric_parameters",
    "required_inputs",
    "elbo_decomposition",
    "histogram_discretize",
    "discrete_mutual_info",
    "discrete_entropy",
    "mig",
    "dci",
    "dci_es",
    "sap",
    "modularity_explicitness",
    "unsupervised",
    "irs",
    "beta_vae_score",
    "factor_vae_score",
    "downstream",
    "mig_exact",
    "active_units",
    "hoyer_sparsity",
    "udr",
    "sample_udr",
    "infomec",
]
