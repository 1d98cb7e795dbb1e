"""The identity context's write side: users, their profiles, preferences and roles."""
