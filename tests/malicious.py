"""Malformed and malicious answers, each with the validator message that must reject it.

The messages are copied from copier.yml (test_questions checks that they are still there).
Several strings would create a file named `pwned` if anything ever ran them through a shell;
the tests run copier from a scratch directory and check that nothing appears.
"""

from __future__ import annotations

from typing import NamedTuple

NAME_REQUIRED = "The project name is required."
NAME_LENGTH = "The project name must be at most 64 characters."
NAME_CHARS = "The project name may use letters, digits, spaces and .,:;()!?&+@#%*/-_ only"
NAME_SPACES = "The project name must not start or end with spaces."
SLUG_CHARS = (
    "The project slug must start with a lowercase letter and use only lowercase letters, "
    "digits and dashes."
)
SLUG_LENGTH = "The project slug must be at most 64 characters."
SLUG_DASHES = "The project slug must not end with a dash or contain two dashes in a row."
DESCRIPTION_LENGTH = "The description must be at most 200 characters."
DESCRIPTION_CHARS = (
    "The description must be one line without quotes, backslashes, braces, angle brackets, "
    "backticks or dollar signs."
)
AUTHOR_REQUIRED = "The author name is required."
AUTHOR_LENGTH = "The author name must be at most 100 characters."
AUTHOR_CHARS = (
    "The author name must be one line without quotes, backslashes, braces, angle brackets, "
    "backticks or dollar signs."
)
EMAIL = "Enter a valid e-mail address such as you@example.com."

VALIDATOR_MESSAGES: dict[str, tuple[str, ...]] = {
    "project_name": (NAME_REQUIRED, NAME_LENGTH, NAME_CHARS, NAME_SPACES),
    "project_slug": (SLUG_CHARS, SLUG_LENGTH, SLUG_DASHES),
    "description": (DESCRIPTION_LENGTH, DESCRIPTION_CHARS),
    "author_name": (AUTHOR_REQUIRED, AUTHOR_LENGTH, AUTHOR_CHARS),
    "author_email": (EMAIL,),
}

SSTI = "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}"


class BadAnswer(NamedTuple):
    question: str
    value: str
    # The rejection must carry one of these messages (more than one only where a future fix
    # of an earlier validator branch may legitimately take over).
    messages: tuple[str, ...]


def _bad(question: str, message: str, *values: str) -> list[BadAnswer]:
    return [BadAnswer(question, value, (message,)) for value in values]


BAD_ANSWERS: list[BadAnswer] = [
    # project_name
    *_bad("project_name", NAME_REQUIRED, "", "   ", "\t"),
    *_bad("project_name", NAME_LENGTH, "A" * 65, "Acme " * 20),
    *_bad(
        "project_name",
        NAME_CHARS,
        'Acme "Orders"',
        "Acme 'Orders'",
        "Acme {Orders}",
        "{{ 7*7 }}",
        "{% if true %}x{% endif %}",
        "{# comment #}",
        SSTI,
        "Acme\nOrders",
        "Acme\r\nEVIL=1",
        "`touch pwned`",
        "$(touch pwned)",
        "${HOME}",
        "Acme\\Orders",
        "<script>alert(1)</script>",
        "Acme\x00Orders",
        "Acme\x1b[31mOrders",
        "Acme Ördérs",
    ),
    *_bad("project_name", NAME_SPACES, " Acme", "Acme Orders "),
    BadAnswer("project_name", "Acme Orders\n", (NAME_CHARS, NAME_SPACES)),
    # project_slug: path traversal, absolute paths, shell and Jinja
    *_bad(
        "project_slug",
        SLUG_CHARS,
        "../x",
        "../../../../tmp/pwned",
        "..",
        ".",
        "/etc",
        "/etc/passwd",
        "a/b",
        "a\\b",
        "~/x",
        "",
        "Acme",
        "acme_orders",
        "acme.orders",
        "acme orders",
        "1acme",
        "-acme",
        "x; rm -rf /",
        "; rm -rf /",
        "x && touch pwned",
        "x | touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "{{ 7*7 }}",
        "{% if %}",
        "acme\nevil",
        "acme\n",
        "acme\r",
    ),
    *_bad("project_slug", SLUG_LENGTH, "a" * 65),
    *_bad("project_slug", SLUG_DASHES, "acme-", "acme--orders"),
    # description: must not break TOML, YAML, .env or Markdown
    *_bad("description", DESCRIPTION_LENGTH, "d" * 201),
    *_bad(
        "description",
        DESCRIPTION_CHARS,
        'A "quoted" service',
        "It's a service",
        'x"\nEVIL = "1',
        "line one\nline two",
        "trailing newline\n",
        "KEY=x\r\nSECRET_KEY=known",
        "back\\slash",
        'ends with backslash \\"',
        "a {{ 7*7 }} service",
        "{% raw %}",
        "`touch pwned`",
        "$(touch pwned)",
        "${SECRET_KEY}",
        "<b>bold</b>",
        "tab\tseparated",
        "nul\x00byte",
        "del\x7fchar",
        "]\n[tool.evil]\nx = 1",
    ),
    # author_name
    *_bad("author_name", AUTHOR_REQUIRED, "", "  "),
    *_bad("author_name", AUTHOR_LENGTH, "N" * 101),
    *_bad(
        "author_name",
        AUTHOR_CHARS,
        "O'Brien",
        'Jane "JD" Doe',
        "Jane\\Doe",
        "Jane\nEVIL=1",
        "Jane Doe\n",
        '", email = "evil@example.com" }, { name = "x',
        "{{ author_email }}",
        "`touch pwned`",
        "$(touch pwned)",
        "${POSTGRES_PASSWORD}",
    ),
    # author_email
    *_bad(
        "author_email",
        EMAIL,
        "",
        "a@b",
        "@x.com",
        "a@",
        "a b@c.com",
        "a@b c.com",
        "a@b..com",
        "a@-b.com",
        "a@b.com\nBcc: victim@example.com",
        "a@b.com\n",
        "a@b.com\r\n",
        "a@b.com; rm -rf /",
        "$(touch pwned)@x.com",
        "`touch pwned`@x.com",
        '"a"@x.com',
        "a'@x.com",
        "{{ 7*7 }}@x.com",
        "a" * 250 + "@x.com",
    ),
]

CHOICE_MESSAGE = "Invalid choice for 'python_version'"
BAD_PYTHON_VERSIONS = ["3.10", "3.14", "3", "latest", "", "3.11; rm -rf /", "3.11\n", "../3.11"]
