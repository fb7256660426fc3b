"""API v2: what changed from v1 (the contract of app/items), built on the same service layer."""
