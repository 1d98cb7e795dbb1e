from domain.orders.card_on_file import CardOnFile
from domain.orders.order import (
    IllegalTransition,
    Order,
    OrderLine,
    OrderStatus,
    can_move,
    order_id_for_cart,
    order_total,
)

__all__ = [
    "CardOnFile",
    "IllegalTransition",
    "Order",
    "OrderLine",
    "OrderStatus",
    "can_move",
    "order_id_for_cart",
    "order_total",
]
