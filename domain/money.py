"""Money: integer minor units and a currency. Never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Minor units per currency where it is not 2 (ISO 4217); enough for the currencies we sell in.
_EXPONENTS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}


# Active ISO 4217 currency codes (funds and precious metals excluded).
_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(_CODES.split())


class InvalidMoney(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise InvalidMoney("amount must be an integer number of minor units")
        if not _CURRENCY.match(self.currency):
            raise InvalidMoney(f"currency must be an ISO 4217 code, not {self.currency!r}")

    @classmethod
    def of(cls, amount: Decimal | str, currency: str) -> Money:
        """From a decimal amount such as ``Decimal("19.99")``; rejects sub-minor precision."""
        exponent = _EXPONENTS.get(currency, 2)
        scaled = Decimal(amount).scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise InvalidMoney(f"{amount} has more than {exponent} decimal places for {currency}")
        return cls(int(scaled), currency)

    @property
    def amount(self) -> Decimal:
        return Decimal(self.minor).scaleb(-_EXPONENTS.get(self.currency, 2))

    def is_negative(self) -> bool:
        return self.minor < 0

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
