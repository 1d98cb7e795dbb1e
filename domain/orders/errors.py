"""The rules an order refuses to break, each with the ``code`` its problem body carries."""

from __future__ import annotations

from domain.errors import Conflict, RuleViolated


class EmptyOrder(RuleViolated):
    code = "empty_order"


class InvalidQuantity(RuleViolated):
    code = "invalid_quantity"


class DuplicateSku(RuleViolated):
    code = "duplicate_sku"


class MixedCurrencies(RuleViolated):
    code = "mixed_currencies"


class NegativePrice(RuleViolated):
    code = "negative_price"


class InvalidRefundAmount(RuleViolated):
    code = "invalid_refund_amount"


class RefundExceedsTotal(RuleViolated):
    code = "refund_exceeds_total"


class RefundIdReused(RuleViolated):
    code = "refund_id_reused"


class InvalidRestock(RuleViolated):
    code = "invalid_restock"


class PaymentMethodAlreadyGiven(Conflict):
    code = "payment_method_already_given"


class UnknownRefund(Conflict):
    code = "unknown_refund"
