// A shopping cart with discounts.

const TAX_RATE = 0.2;

/**
 * Rounds an amount to cents.
 */
export function roundCents(amount) {
  return Math.round(amount * 100) / 100;
}

export class Cart {
  #items = [];

  constructor(owner, currency = "EUR") {
    this.owner = owner;
    this.currency = currency;
  }

  add(item, quantity = 1) {
    this.#items.push({ ...item, quantity });
    return this;
  }

  get size() {
    return this.#items.length;
  }

  total() {
    const subtotal = this.#items.reduce(
      (sum, { price, quantity }) => sum + price * quantity,
      0,
    );
    return roundCents(subtotal * (1 + TAX_RATE));
  }

  #discounted(percent) {
    return this.total() * (1 - percent / 100);
  }

  static fromJSON(json) {
    const data = JSON.parse(json);
    const cart = new Cart(data.owner);
    data.items.forEach((item) => cart.add(item, item.quantity));
    return cart;
  }
}

class Coupon {
  constructor(code, percent) {
    this.code = code;
    this.percent = percent;
  }

  applyTo(cart) {
    return cart.total() * (1 - this.percent / 100);
  }
}

export const isValidCode = (code) => /^[A-Z]{4}\d{2}$/.test(code);

const formatPrice = function (amount, currency) {
  return `${amount.toFixed(2)} ${currency}`;
};

export default function checkout(cart, coupon) {
  const amount = coupon ? new Coupon(coupon, 10).applyTo(cart) : cart.total();
  return formatPrice(amount, cart.currency);
}
