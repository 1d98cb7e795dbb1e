"""The order saga: a process manager that takes each order from placed to confirmed (or
cancelled with a reason), and pays refunds back. ``plan`` decides (pure), ``process``
carries out the decisions against the applications, ``deadlines`` keeps its timers.
The Faust wiring is in ``streams/saga.py``. See ADR 0010."""
