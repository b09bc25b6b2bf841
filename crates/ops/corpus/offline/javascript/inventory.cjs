'use strict';
// Inventory with reorder rules, written as a CommonJS module.

class StockError extends Error {
  constructor(sku, wanted, available) {
    super(`not enough ${sku}: wanted ${wanted}, have ${available}`);
    this.name = 'StockError';
    this.sku = sku;
  }
}

class Inventory {
  /** @param {number} reorderLevel quantity at or below which an item needs reordering */
  constructor(reorderLevel = 5) {
    if (!Number.isInteger(reorderLevel) || reorderLevel < 0) {
      throw new RangeError('reorderLevel must be a non-negative integer');
    }
    this.reorderLevel = reorderLevel;
    this.items = new Map();
  }

  addItem(sku, name, price, quantity = 0) {
    if (!sku || typeof sku !== 'string') throw new TypeError('sku must be a non-empty string');
    if (price < 0) throw new RangeError('price must not be negative');
    const existing = this.items.get(sku);
    if (existing) {
      existing.quantity += quantity;
      existing.price = price;
    } else {
      this.items.set(sku, { sku, name, price, quantity });
    }
    return this.items.get(sku).quantity;
  }

  remove(sku, quantity) {
    const item = this.items.get(sku);
    const available = item ? item.quantity : 0;
    if (quantity > available) throw new StockError(sku, quantity, available);
    item.quantity -= quantity;
    return item.quantity;
  }

  needsReorder() {
    return [...this.items.values()]
      .filter((item) => item.quantity <= this.reorderLevel)
      .map((item) => item.sku)
      .sort();
  }

  totalValue() {
    let total = 0;
    for (const item of this.items.values()) total += item.price * item.quantity;
    return Math.round(total * 100) / 100;
  }

  /** Price with a bulk discount: 5% from 10 units, 10% from 50, 15% from 100. */
  quote(sku, quantity) {
    const item = this.items.get(sku);
    if (!item) throw new Error(`unknown sku ${sku}`);
    let rate = 0;
    if (quantity >= 100) rate = 0.15;
    else if (quantity >= 50) rate = 0.1;
    else if (quantity >= 10) rate = 0.05;
    return Math.round(item.price * quantity * (1 - rate) * 100) / 100;
  }
}

function parseCsvLine(line) {
  const [sku, name, price, quantity] = line.split(',').map((part) => part.trim());
  if (!sku || !name || price === undefined) throw new SyntaxError(`bad line: ${line}`);
  const parsedPrice = Number(price);
  if (Number.isNaN(parsedPrice)) throw new SyntaxError(`bad price: ${price}`);
  return { sku, name, price: parsedPrice, quantity: quantity ? parseInt(quantity, 10) : 0 };
}

module.exports = { Inventory, StockError, parseCsvLine };
