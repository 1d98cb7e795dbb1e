from domain.carts.cart import (
    MAX_LINES,
    MAX_QUANTITY,
    Cart,
    CartCheckedOut,
    CartEmpty,
    CartLine,
    CartPurchase,
    LineNotFound,
    ProductNotOnSale,
    QuantityOutOfRange,
    TooManyLines,
    UnknownSku,
)

__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY",
    "Cart",
    "CartCheckedOut",
    "CartEmpty",
    "CartLine",
    "CartPurchase",
    "LineNotFound",
    "ProductNotOnSale",
    "QuantityOutOfRange",
    "TooManyLines",
    "UnknownSku",
]
