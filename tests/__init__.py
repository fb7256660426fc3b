"""Tests of the fastapi-template repository (template renders and the generator CLI)."""
