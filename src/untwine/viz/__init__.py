"""Figures and pages: run reports, traversals, dataset sheets."""

from .report import image_grid, write_report

__all__ = ["write_report", "image_grid"]
