"""Adapters of the payments context's gateway port: the sandbox processor and its ledger."""
