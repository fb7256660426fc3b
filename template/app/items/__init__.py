"""Sample domain: the place every feature shows itself."""
