"""Infrastructure: settings, clients, the embedded dev stack, the `shop` CLI."""
