"""The guide's import paths (``src.core.*``), re-exporting the ``m365_toolkit`` package.

Importable from a checkout of the repository; never installed.
"""
