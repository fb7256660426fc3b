"""fastapi-template: render and check FastAPI projects from the Copier template."""
