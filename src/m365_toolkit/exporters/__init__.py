"""Exporters: the audit trail in other tools' formats. ``otel``: OpenTelemetry traces, live
(a listener on the store's append path) and replayed from stored history."""
