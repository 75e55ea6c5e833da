"""The page a person opens: ``report.html`` of a run directory.

It shows the config, the loss curves, every metric computed, reconstructions,
and latent traversals (a row per latent, ordered by KL to the prior, each latent
swept from −2 to 2 around one observation's posterior mean). Images are PNG files
beside the page (``report_*.png``), so the page is plain, self-contained HTML.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..estimators import gaussian_kl

TRAVERSAL_RANGE = (-2.0, 2.0)


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, 3)."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    if image.shape[0] == 1:
        return np.repeat(image[0][:, :, None], 3, axis=2)
    return np.moveaxis(image[:3], 0, -1)


def image_grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """(rows, cols, C, H, W) -> one (H', W', 3) image with white gutters."""
    rows, cols = images.shape[:2]
    h, w = images.shape[-2:]
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y:y + h, x:x + w] = _to_rgb(images[r, c])
    return grid


def loss_curves(log, path: Path) -> bool:
    """Loss terms against steps, one panel per term; False if the log is empty."""
    if log is None or len(log) == 0:
        return False
    plt = _plt()
    columns = [c for c in log.columns if c not in ("step", "images_per_s")]
    n = len(columns)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, column in zip(axes.flat, columns):
        ax.plot(log["step"], log[column], lw=1.2, color="#2b6cb0")
        ax.set_title(column, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        values = log[column].to_numpy()
        if column in ("loss", "reconstruction") and np.all(values > 0) and values.max() / max(values.min(), 1e-12) > 20:
            ax.set_yscale("log")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def latent_kl(model, observations: np.ndarray) -> np.ndarray:
    """Mean KL(q(z_j|x) ‖ N(0, 1)) of each latent over ``observations``."""
    mean, var = model.posterior()(observations)
    return np.mean(gaussian_kl(mean, np.log(np.maximum(var, 1e-12)), variance=var), axis=0)


def traversals(model, observation: np.ndarray, order: np.ndarray, steps: int = 9) -> np.ndarray:
    """(d, steps, C, H, W): latent ``order[i]`` swept over TRAVERSAL_RANGE, the others at μ(x)."""
    base = model.representation()(observation[None])[0]
    values = np.linspace(*TRAVERSAL_RANGE, steps, dtype=np.float32)
    codes = np.repeat(base[None, None, :], len(order), axis=0).repeat(steps, axis=1)
    for row, latent in enumerate(order):
        codes[row, :, latent] = values
    decoded = model.generate(codes.reshape(-1, codes.shape[-1]))
    return decoded.reshape(len(order), steps, *decoded.shape[1:])


def _traversal_figure(grid_images: np.ndarray, order: np.ndarray, kl: np.ndarray, path: Path) -> None:
    plt = _plt()
    rows, steps = grid_images.shape[:2]
    fig, axes = plt.subplots(rows, steps, figsize=(steps * 0.9 + 1.6, rows * 0.9 + 0.5), squeeze=False)
    values = np.linspace(*TRAVERSAL_RANGE, steps)
    for r in range(rows):
        for c in range(steps):
            ax = axes[r, c]
            ax.imshow(_to_rgb(grid_images[r, c]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"z{order[r]}\nKL {kl[order[r]]:.2f}", rotation=0, ha="right", va="center", fontsize=8)
            if r == 0:
                ax.set_title(f"{values[c]:+.1f}", fontsize=8)
    fig.subplots_adjust(left=0.14, right=0.99, top=0.93, bottom=0.01, wspace=0.05, hspace=0.05)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _format(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        if len(value) > 12:
            return html.escape(f"[{len(value)} values]")
        return html.escape(", ".join(_format(v) for v in value))
    if isinstance(value, dict):
        return html.escape(json.dumps(value)[:200])
    return html.escape(str(value))


def _metrics_html(metrics: dict, stale: tuple = (), step: int = 0) -> str:
    if not metrics:
        return "<p>No metrics yet: run <code>untwine evaluate RUN_DIR</code>.</p>"
    rows = []
    if stale:
        rows.append("<p class=warn>Stale: " + html.escape(", ".join(
            f"{name} scored the weights of step {metrics[name].get('step', '?')}" for name in stale))
            + f"; the weights are now at step {step}. Run <code>untwine evaluate RUN_DIR</code> again.</p>")
    for name, result in metrics.items():
        if not isinstance(result, dict):
            continue
        values = {k: v for k, v in result.items() if k not in ("params", "seed", "seconds", "step", "weights_sha256")}
        params = result.get("params", {})
        extra = f"seed {result.get('seed', '?')}; " + ", ".join(f"{k}={_format(v)}" for k, v in params.items())
        first = True
        for key, value in values.items():
            cell = f'<td rowspan="{len(values)}"><b>{html.escape(name)}</b><br><small>{extra}</small></td>' if first else ""
            rows.append(f"<tr>{cell}<td>{html.escape(key)}</td><td class=num>{_format(value)}</td></tr>")
            first = False
    notes = "".join(r for r in rows if r.startswith("<p"))
    table = [r for r in rows if not r.startswith("<p")]
    return notes + "<table><tr><th>metric</th><th>key</th><th>value</th></tr>" + "".join(table) + "</table>"


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1a202c}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;border-bottom:1px solid #e2e8f0;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #e2e8f0;padding:.3em .6em;vertical-align:top;text-align:left}
td.num{font-family:ui-monospace,monospace;text-align:right} small{color:#4a5568}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:.8em;font-size:.85em;overflow:auto}
img{max-width:100%;image-rendering:pixelated} .sub{color:#4a5568}
.warn{background:#fffaf0;border:1px solid #dd6b20;padding:.5em .8em;color:#7b341e}
"""


def write_report(run_dir: str | Path, *, num_reconstructions: int = 10, seed: int = 0) -> Path:
    """Write ``report.html`` (and its PNG files) for a trained run; returns its path."""
    from ..runs import load_dataset, load_model, read_log, read_metrics, status

    run_dir = Path(run_dir)
    model, config = load_model(run_dir)
    data = load_dataset(config.dataset, config.dataset_options)
    rng = np.random.default_rng(seed)
    sections = []

    try:
        log = read_log(run_dir)
    except FileNotFoundError:
        log = None
    run_status = status(run_dir)
    steps_done = run_status.step
    if loss_curves(log, run_dir / "report_losses.png"):
        sections.append("<h2>Training</h2><img src='report_losses.png' alt='loss curves'>")
        last = log.iloc[-1]
        sections.append("<p class=sub>Last logged step " + html.escape(
            ", ".join(f"{k} = {last[k]:.4g}" for k in log.columns if k != "step")) + "</p>")

    metrics = read_metrics(run_dir)
    sections.append("<h2>Metrics</h2>" + _metrics_html(metrics, run_status.stale, run_status.step))

    is_image = len(data.observation_shape) == 3
    if is_image:
        _, observations = data.sample(max(num_reconstructions, 256), rng)
        shown = observations[:num_reconstructions]
        recon = model.reconstruct(shown)
        grid = image_grid(np.stack([shown, recon]))
        _plt().imsave(run_dir / "report_reconstructions.png", np.kron(grid, np.ones((2, 2, 1))))
        sections.append("<h2>Reconstructions</h2><p class=sub>Top: data. Bottom: decoder mean at the posterior mean."
                        "</p><img src='report_reconstructions.png' alt='reconstructions'>")
        kl = latent_kl(model, observations)
        order = np.argsort(-kl)
        images = traversals(model, observations[0], order)
        _traversal_figure(images, order, kl, run_dir / "report_traversals.png")
        sections.append("<h2>Latent traversals</h2><p class=sub>A row per latent, ordered by mean KL to the prior "
                        f"(most informative first); each latent swept from {TRAVERSAL_RANGE[0]:g} to "
                        f"{TRAVERSAL_RANGE[1]:g} with the others at one image's posterior mean. Latents with KL "
                        "near 0 are unused.</p><img src='report_traversals.png' alt='latent traversals'>")
    else:
        sections.append("<p class=sub>Observations are not images: no reconstructions or traversals shown.</p>")

    config_text = (run_dir / "config.toml").read_text()
    title = f"{config.model.objective} on {config.dataset}"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>untwine: {html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=sub>Run <code>{html.escape(run_dir.name)}</code>, {steps_done} steps, latent size "
            f"{config.model.latent_dim}, seed {config.train.seed}.</p>"
            + "".join(sections)
            + f"<h2>Config</h2><pre>{html.escape(config_text)}</pre></body></html>")
    out = run_dir / "report.html"
    atomic_write(out, page)
    return out
