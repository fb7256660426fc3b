"""API versioning: /api/v1 and /api/v2 side by side, deprecation signalled by the standards.

Wired in app/api.py (which routers each version serves) and app/main.py (the policy:
headers, 410 for retired versions, per-version OpenAPI documents).
"""
