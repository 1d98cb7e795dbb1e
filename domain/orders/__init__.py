from domain.orders.order import (
    IllegalTransition,
    Order,
    OrderLine,
    OrderStatus,
    can_move,
    order_total,
)

__all__ = ["IllegalTransition", "Order", "OrderLine", "OrderStatus", "can_move", "order_total"]
