"""A bank account with an overdraft limit and a transaction log."""

from typing import List, Tuple


class InsufficientFundsError(Exception):
    """Raised when a withdrawal would go beyond the overdraft limit."""

    def __init__(self, requested: float, available: float):
        super().__init__(f"requested {requested:.2f}, only {available:.2f} available")
        self.requested = requested
        self.available = available


class AccountFrozenError(Exception):
    """Raised on any movement of money on a frozen account."""


class BankAccount:
    """An account holding a balance in cents-precise floats."""

    def __init__(self, owner: str, balance: float = 0.0, overdraft_limit: float = 0.0):
        if not owner.strip():
            raise ValueError("owner must not be blank")
        if overdraft_limit < 0:
            raise ValueError("overdraft limit must not be negative")
        self.owner = owner
        self.balance = round(balance, 2)
        self.overdraft_limit = overdraft_limit
        self.frozen = False
        self.history: List[Tuple[str, float]] = []

    def available(self) -> float:
        """Money that can still be withdrawn, overdraft included."""
        return round(self.balance + self.overdraft_limit, 2)

    def deposit(self, amount: float) -> float:
        if self.frozen:
            raise AccountFrozenError(self.owner)
        if amount <= 0:
            raise ValueError("deposit must be positive")
        self.balance = round(self.balance + amount, 2)
        self.history.append(("deposit", amount))
        return self.balance

    def withdraw(self, amount: float) -> float:
        if self.frozen:
            raise AccountFrozenError(self.owner)
        if amount <= 0:
            raise ValueError("withdrawal must be positive")
        if amount > self.available():
            raise InsufficientFundsError(amount, self.available())
        self.balance = round(self.balance - amount, 2)
        self.history.append(("withdraw", amount))
        return self.balance

    def is_overdrawn(self) -> bool:
        return self.balance < 0

    def monthly_fee(self) -> float:
        """Fee charged at month end: free above 1000, 5 when overdrawn, else 1."""
        if self.balance >= 1000:
            return 0.0
        if self.is_overdrawn():
            return 5.0
        return 1.0

    def freeze(self) -> None:
        self.frozen = True


def transfer(source: BankAccount, target: BankAccount, amount: float) -> None:
    """Move ``amount`` from ``source`` to ``target``; nothing moves on failure."""
    if source is target:
        raise ValueError("cannot transfer to the same account")
    if target.frozen:
        raise AccountFrozenError(target.owner)
    source.withdraw(amount)
    target.deposit(amount)
