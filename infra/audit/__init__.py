"""Tools for auditors: replay, export, live tail and the tamper-evident hash chain."""
