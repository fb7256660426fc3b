"""README.md and .env.example document every setting and every command, so neither drifts.

The settings classes are found by walking `app/`: every module that defines a
`BaseSettings` subclass (the core `Settings` and each feature's `config.py`) is imported, and
each environment variable a class reads must appear in README.md (as `NAME`) and in
.env.example (as a `NAME=` line). Every Makefile target with a `##` help text must appear in
README.md as `make <target>`.
"""

import importlib
import re
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "app"
README = ROOT / "README.md"
ENV_EXAMPLE = ROOT / ".env.example"
MAKEFILE = ROOT / "Makefile"

# Shown in .env.example as what to replace, never used as they are.
PLACEHOLDERS = frozenset({"SECRET_KEY"})

MAKE_TARGET = re.compile(r"^([A-Za-z0-9_-]+):[^#\n]*##", re.MULTILINE)


def settings_classes() -> list[type[BaseSettings]]:
    """Every BaseSettings subclass defined in a module under app/."""
    found: dict[str, type[BaseSettings]] = {}
    for path in sorted(APP_DIR.rglob("*.py")):
        if "BaseSettings" not in path.read_text(encoding="utf-8"):
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value is not BaseSettings
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def env_names(settings_class: type[BaseSettings]) -> list[str]:
    """The environment variables a settings class reads (case-insensitive: written upper)."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    names = []
    for field_name, field in settings_class.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            alias = next((choice for choice in alias.choices if isinstance(choice, str)), None)
        names.append(alias.upper() if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


def all_env_names() -> dict[str, list[str]]:
    return {cls.__qualname__: env_names(cls) for cls in settings_classes()}


def test_the_settings_classes_are_found() -> None:
    names = [f"{cls.__module__}.{cls.__qualname__}" for cls in settings_classes()]
    assert "app.core.config.Settings" in names
    for config in APP_DIR.glob("*/config.py"):
        module = ".".join(config.relative_to(ROOT).with_suffix("").parts)
        assert any(name.startswith(f"{module}.") for name in names), f"none in {module}"


def test_every_setting_is_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = {
        owner: [name for name in names if f"`{name}`" not in readme]
        for owner, names in all_env_names().items()
    }
    assert {owner: names for owner, names in missing.items() if names} == {}, (
        "add these variables to the settings tables in README.md"
    )


def test_every_setting_is_in_the_env_example() -> None:
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    missing = {
        owner: [
            name
            for name in names
            if not re.search(rf"^(# ?)?{re.escape(name)}=", example, re.MULTILINE)
        ]
        for owner, names in all_env_names().items()
    }
    assert {owner: names for owner, names in missing.items() if names} == {}, (
        "add these variables, with their defaults, to .env.example"
    )


def test_the_env_example_holds_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copying .env.example to .env (the quick start) changes no setting but the secret: a
    value there that differs from the code's default would quietly change behaviour."""
    differing: dict[str, list[str]] = {}
    for settings_class in settings_classes():
        names = env_names(settings_class)
        for name in names:
            monkeypatch.delenv(name, raising=False)
        example = settings_class(_env_file=ENV_EXAMPLE)
        default = settings_class(_env_file=None)
        differing[settings_class.__qualname__] = [
            name
            for name, field in zip(names, settings_class.model_fields, strict=True)
            if name not in PLACEHOLDERS and getattr(example, field) != getattr(default, field)
        ]
    assert {owner: names for owner, names in differing.items() if names} == {}, (
        "make these .env.example values the defaults (or leave them empty)"
    )


def test_every_make_target_is_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    targets = MAKE_TARGET.findall(MAKEFILE.read_text(encoding="utf-8"))
    assert targets, "no documented targets found in the Makefile"
    missing = [target for target in targets if not re.search(rf"`make {target}\b", readme)]
    assert missing == [], "add these targets to the Commands table in README.md"
