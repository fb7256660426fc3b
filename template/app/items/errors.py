import uuid

from app.core.errors import ConflictError, NotFoundError, PreconditionFailedError


class ItemNotFoundError(NotFoundError):
    def __init__(self, item_id: uuid.UUID) -> None:
        super().__init__(f"Item {item_id} not found.")


class ItemVersionMismatchError(PreconditionFailedError):
    def __init__(self) -> None:
        super().__init__("The item changed since you read it; fetch it again and retry.")


class ItemConcurrentUpdateError(ConflictError):
    def __init__(self) -> None:
        super().__init__("The item was changed by another request at the same time; retry.")
