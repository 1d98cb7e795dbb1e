"""The bus: relay (event store → Kafka), the envelope schema, the Faust app and its agents."""
