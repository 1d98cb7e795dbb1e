"""Read models: pure event → read-model functions, their sinks, and rebuilds."""
