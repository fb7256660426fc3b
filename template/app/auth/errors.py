from app.core.errors import AppError, ConflictError, NotFoundError, UnprocessableError

# One answer for every authentication failure, whatever the reason (RFC 6750 §3).
NOT_AUTHENTICATED = "Not authenticated."


class NotAuthenticatedError(AppError):
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(NOT_AUTHENTICATED)


class InvalidCredentialsError(AppError):
    """Wrong e-mail, wrong password, inactive account: one answer, so none can be told apart."""

    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__("Incorrect e-mail or credentials.")


class SignInThrottledError(AppError):
    """Too many failed sign-ins to this address (app/auth/lockout.py): the same answer for
    an account and an unknown address in the same state, so neither can be told apart."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many failed sign-ins; retry after the time in Retry-After, or reset the password."
        )
        self.headers = {"Retry-After": str(retry_after)}


class ForbiddenError(AppError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__("You lack the role this operation needs.")


class RegistrationClosedError(AppError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__("Registration is closed; ask an administrator for an account.")


class EmailTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__("An account with this e-mail already exists.")


class UserNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("User not found.")


class UnknownRoleError(UnprocessableError):
    def __init__(self, roles: list[str]) -> None:
        super().__init__(f"Unknown roles: {', '.join(sorted(roles))}.")


class InvalidResetTokenError(AppError):
    """Unknown, used, expired or replaced reset token, or an inactive account: one answer."""

    status_code = 400

    def __init__(self) -> None:
        super().__init__("This reset token is invalid, used or expired; request a new one.")
