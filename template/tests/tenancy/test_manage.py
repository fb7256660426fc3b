"""The tenant administration command, run as an operator would: a separate process."""

import os
import subprocess
import sys
import uuid

from tests.database import PROJECT_ROOT


def manage(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-m", "app.tenancy.manage", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_create_list_deactivate_activate(database_url: str) -> None:
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    created = manage(database_url, "create", slug, "Acme Corp")
    assert created.returncode == 0, created.stderr
    tenant_id = uuid.UUID(created.stdout.strip())

    duplicate = manage(database_url, "create", slug, "Another")
    assert duplicate.returncode == 1
    assert "exists" in duplicate.stderr

    assert manage(database_url, "deactivate", slug).stdout.strip() == f"{slug}: inactive"
    listed = manage(database_url, "list").stdout.splitlines()
    assert f"{tenant_id}\t{slug}\tinactive\tAcme Corp" in listed
    assert manage(database_url, "activate", slug).stdout.strip() == f"{slug}: active"


def test_bad_input_is_refused(database_url: str) -> None:
    assert manage(database_url, "create", "Not A Slug", "x").returncode == 2
    unknown = manage(database_url, "deactivate", "nobody")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "error: no tenant with slug 'nobody'",
    )
