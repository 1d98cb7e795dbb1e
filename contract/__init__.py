"""The integration contract: what the bus carries between contexts (ADR 0004, ADR 0036).

The bottom of the tree: it imports the domain's values and nothing else of ours, so the
read side, the streams and the notifications depend on it instead of on the write side.
"""
