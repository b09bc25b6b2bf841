"""An inventory and a shopping cart with discount codes, built on dataclasses."""

from dataclasses import dataclass, field
from typing import Dict, Optional


class OutOfStockError(Exception):
    """Raised when the cart asks for more units than the inventory holds."""


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price: float
    category: str = "general"


@dataclass
class Inventory:
    stock: Dict[str, int] = field(default_factory=dict)

    def add(self, sku: str, quantity: int) -> int:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.stock[sku] = self.stock.get(sku, 0) + quantity
        return self.stock[sku]

    def reserve(self, sku: str, quantity: int) -> None:
        available = self.stock.get(sku, 0)
        if quantity > available:
            raise OutOfStockError(f"{sku}: wanted {quantity}, have {available}")
        self.stock[sku] = available - quantity


DISCOUNT_CODES = {"SAVE10": 0.10, "HALF": 0.50, "BOOKS5": 0.05}


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def subtotal(self) -> float:
        return round(self.product.price * self.quantity, 2)


@dataclass
class Cart:
    lines: Dict[str, CartLine] = field(default_factory=dict)
    discount_code: Optional[str] = None

    def add(self, product: Product, quantity: int = 1) -> None:
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        if product.sku in self.lines:
            self.lines[product.sku].quantity += quantity
        else:
            self.lines[product.sku] = CartLine(product, quantity)

    def remove(self, sku: str) -> bool:
        return self.lines.pop(sku, None) is not None

    def apply_code(self, code: str) -> None:
        code = code.strip().upper()
        if code not in DISCOUNT_CODES:
            raise KeyError(f"unknown discount code {code!r}")
        self.discount_code = code

    def subtotal(self) -> float:
        return round(sum(line.subtotal for line in self.lines.values()), 2)

    def discount(self) -> float:
        """The discount in money. BOOKS5 only applies to the books in the cart."""
        if self.discount_code is None:
            return 0.0
        rate = DISCOUNT_CODES[self.discount_code]
        if self.discount_code == "BOOKS5":
            base = sum(l.subtotal for l in self.lines.values() if l.product.category == "books")
        else:
            base = self.subtotal()
        return round(base * rate, 2)

    def shipping(self) -> float:
        """Free shipping from 50 after discount; an empty cart ships nothing."""
        if not self.lines:
            return 0.0
        if self.subtotal() - self.discount() >= 50:
            return 0.0
        return 4.99

    def total(self) -> float:
        return round(self.subtotal() - self.discount() + self.shipping(), 2)

    def checkout(self, inventory: Inventory) -> float:
        for sku, line in self.lines.items():
            if inventory.stock.get(sku, 0) < line.quantity:
                raise OutOfStockError(sku)
        for sku, line in self.lines.items():
            inventory.reserve(sku, line.quantity)
        amount = self.total()
        self.lines.clear()
        return amount
