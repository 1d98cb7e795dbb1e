"""The write side: command models, application services per context, the command HTTP API."""
