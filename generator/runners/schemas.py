"""Validate files against check-jsonschema's bundled schemas, all in one process.

Arguments: SCHEMA=FILE[,FILE...] pairs, e.g. vendor.compose-spec=compose.yaml. Runs in the
environment of the template's CLI (the `lint` group), with the project as working directory.
"""

from __future__ import annotations

import sys

from check_jsonschema import main as check


def validate(schema: str, files: list[str]) -> bool:
    print(f"$ check-jsonschema --builtin-schema {schema} {' '.join(files)}", flush=True)
    try:
        code = check.main(["--builtin-schema", schema, *files], standalone_mode=False)
    except SystemExit as exit_:
        code = exit_.code
    sys.stdout.flush()
    return code in (0, None)


def main() -> int:
    ok = True
    for argument in sys.argv[1:]:
        schema, _, files = argument.partition("=")
        ok = validate(schema, files.split(",")) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
