"""Moving data between stores and files (export, import, migrate) and retention (prune)."""
