"""Customer e-mails: a consumer of identity and orders events that mails each customer once
per event through SMTP and keeps a notification history (ADR 0013).

``messages`` is pure (which event gets which e-mail, rendered from ``templates/``);
``directory`` looks up recipients in the identity context at send time (the envelope carries
no personal data); ``mailer`` is the SMTP port; ``history`` the Postgres table that makes a
send happen once; ``notifier`` ties them together as the worker runs it.
"""
