from domain.inventory.stock_item import (
    AdjustmentExceedsAvailable,
    InsufficientStock,
    InvalidQuantity,
    NoReservation,
    ReservationCommitted,
    ReservationMismatch,
    StockItem,
    stock_item_id_for,
)

__all__ = [
    "AdjustmentExceedsAvailable",
    "InsufficientStock",
    "InvalidQuantity",
    "NoReservation",
    "ReservationCommitted",
    "ReservationMismatch",
    "StockItem",
    "stock_item_id_for",
]
