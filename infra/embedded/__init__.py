"""The embedded dev stack: backing services as supervised child processes from pip wheels.

``python -m infra.embedded`` runs it in the foreground (see ``__main__``);
``infra.embedded.services.embedded_stack`` runs it around a ``with`` block;
``infra.embedded.supervisor.Supervisor`` is the generic process supervisor underneath.

Nothing is imported here, so that small children (the compat proxy) start fast.
"""
