"""Figures and pages: run reports, traversals, dataset sheets, the study report."""

from .report import image_grid, write_report

__all__ = ["write_report", "image_grid", "write_study_report"]


def __getattr__(name):
    if name == "write_study_report":
        # lazy: the study report needs pandas and the study room; imported when asked for, not with every run report
        from .study_report import write_study_report

        return write_study_report
    raise AttributeError(f"module 'untwine.viz' has no attribute {name!r}")
