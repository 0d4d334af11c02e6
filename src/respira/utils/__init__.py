"""Small helpers shared across respira."""
