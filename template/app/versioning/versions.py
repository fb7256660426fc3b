"""The versions of this API, oldest first: each one's successor is the next.

To add v3: append "v3" here, give it its routers in app/api.py, and deprecate v2 with
API_VERSIONING_DEPRECATED. To retire v1: API_VERSIONING_RETIRED=v1 (410 on every path under
/api/v1), then delete its code in a later release. README.md has the recipe.
"""

from app.versioning.registry import ApiVersions

api_versions = ApiVersions("v1", "v2")
