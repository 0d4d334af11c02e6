"""Small helpers shared across respira (files written atomically, folders swapped into place, text tables)."""
