"""Tracing set-up and log formatting of every shop process (ADR 0030)."""
