from domain.payments.payment import IllegalTransition, Payment, PaymentStatus

__all__ = ["IllegalTransition", "Payment", "PaymentStatus"]
