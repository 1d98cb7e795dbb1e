"""The order saga: a process manager that takes each order from placed to confirmed (or
cancelled with a reason), and pays refunds back. ``facts`` reads what is true of an order,
``plan`` decides the next of the ``steps`` (pure), ``execution`` carries it out against the
applications, ``process`` runs that loop per order, ``deadlines`` keeps its timers.
The Faust wiring is in ``streams/saga.py``. See ADR 0010 and 0037."""
