"""Shared test set-up. The helpers shared by several test folders live in the ``tests.helpers`` package."""
