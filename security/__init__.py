"""Security shared by both APIs: tokens, passwords, access rules, rate limits, the audit log
and the problems they answer with (``security.problems``).

Imports only ``domain`` and libraries; ``infra`` hands it keys, DSNs and clients (ADR 0018).
"""
