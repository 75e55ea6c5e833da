"""The few values of each metric a person reads first; the rest stays in metrics.json.

The downstream metrics report about forty keys each (per training size, per factor); their
headline is the mean test accuracy at each training size.
"""

from __future__ import annotations

import re

__all__ = ["HEADLINES", "headline"]

#: metric -> its headline keys (downstream metrics: see ``headline``).
HEADLINES: dict[str, tuple[str, ...]] = {
    "beta_vae": ("eval_accuracy",),
    "factor_vae": ("eval_accuracy",),
    "mig": ("discrete_mig",),
    "mig_exact": ("mig_exact", "mig_exact_chen"),
    "dci": ("disentanglement", "completeness", "informativeness_test"),
    "sap": ("SAP_score",),
    "modularity_explicitness": ("modularity_score", "explicitness_score_test"),
    "irs": ("IRS",),
    "unsupervised": ("gaussian_total_correlation", "gaussian_wasserstein_correlation_norm", "mutual_info_score"),
    "hoyer_sparsity": ("hoyer_sparsity",),
    "active_units": ("num_active_units",),
}

_DOWNSTREAM = re.compile(r"^(\d+):mean_test_accuracy$")


def headline(name: str, result: dict) -> dict:
    """The headline values of one metric's result, in a fixed order.

    Unknown metrics show their scalar values; downstream metrics their mean test accuracy per
    training size (``acc@<size>``).

    Parameters
    ----------
    name : str
        The metric's name (a key of ``METRICS``).
    result : dict
        The metric's result (keys -> values), as ``evaluate`` gives it.

    Returns
    -------
    dict
        Headline key -> value, for the keys present in ``result``.
    """
    if name.startswith("downstream_"):
        sizes = sorted((int(m.group(1)), key) for key in result if (m := _DOWNSTREAM.match(key)))
        return {f"acc@{size}": result[key] for size, key in sizes}
    keys = HEADLINES.get(name)
    if keys is None:
        keys = tuple(
            k
            for k, v in result.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("seed", "step")
        )
    return {key: result[key] for key in keys if key in result}
