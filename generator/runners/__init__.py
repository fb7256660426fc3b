"""Small scripts the check engine runs in a subprocess (one process instead of several)."""
