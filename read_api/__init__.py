"""The query side: HTTP over read models only, never aggregates or event tables."""
