from domain.carts.cart import (
    MAX_LINES,
    MAX_QUANTITY,
    Cart,
    CartCheckedOut,
    CartEmpty,
    CartLine,
    Checkout,
    LineNotFound,
    QuantityOutOfRange,
    TooManyLines,
)

__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY",
    "Cart",
    "CartCheckedOut",
    "CartEmpty",
    "CartLine",
    "Checkout",
    "LineNotFound",
    "QuantityOutOfRange",
    "TooManyLines",
]
