"""What every page and figure of untwine's reports shares: the page's style sheet and matplotlib, set to draw
into files (no screen needed)."""

from __future__ import annotations

import matplotlib

__all__ = ["STYLE", "pyplot"]

#: The CSS of every report page (a run's report.html, a study's report.html); a page adds its own rules after it.
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1a202c}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;border-bottom:1px solid #e2e8f0;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #e2e8f0;padding:.3em .6em;vertical-align:top;text-align:left}
td.num{font-family:ui-monospace,monospace;text-align:right} small{color:#4a5568}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:.8em;font-size:.85em;overflow:auto}
img{max-width:100%;image-rendering:pixelated} .sub{color:#4a5568}
.warn{background:#fffaf0;border:1px solid #dd6b20;padding:.5em .8em;color:#7b341e}
.warn-inline{color:#c05621;font-size:.8em} table.detail{font-size:.85em;margin:.3em 0} h3{font-size:1em}
details summary{cursor:pointer;color:#2b6cb0}
tr.collapsed td{color:#718096;background:#f7fafc} table.latents{margin:.5em 0}
"""


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only), unless the caller already chose a backend. Imported
    on first use: the command line's other commands do not pay matplotlib's start-up."""
    matplotlib.use("Agg", force=False)
    # lazy: pyplot (about 0.9 s, measured) only when a figure is drawn, once the backend is chosen
    import matplotlib.pyplot as plt

    return plt
