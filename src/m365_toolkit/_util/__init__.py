"""Helpers below everything else: values and redaction, time and host, atomic files."""
