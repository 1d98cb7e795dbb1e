"""Data protection on the write side: events encrypted at rest, personal data per user."""
