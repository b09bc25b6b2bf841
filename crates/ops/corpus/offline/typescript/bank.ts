// Accounts with overdraft limits and typed transactions.

export type TransactionKind = 'deposit' | 'withdrawal' | 'fee';

export interface Transaction {
  kind: TransactionKind;
  amount: number;
  balanceAfter: number;
}

export class InsufficientFundsError extends Error {
  constructor(public readonly requested: number, public readonly available: number) {
    super(`requested ${requested.toFixed(2)}, available ${available.toFixed(2)}`);
    this.name = 'InsufficientFundsError';
  }
}

function toCents(amount: number): number {
  if (!Number.isFinite(amount)) throw new RangeError('amount must be finite');
  return Math.round(amount * 100);
}

export class Account {
  private cents: number;
  readonly history: Transaction[] = [];

  constructor(readonly owner: string, opening = 0, readonly overdraft = 0) {
    if (owner.trim() === '') throw new Error('owner must not be empty');
    if (overdraft < 0) throw new RangeError('overdraft must not be negative');
    this.cents = toCents(opening);
  }

  get balance(): number {
    return this.cents / 100;
  }

  available(): number {
    return (this.cents + toCents(this.overdraft)) / 100;
  }

  deposit(amount: number): number {
    if (amount <= 0) throw new RangeError('deposit must be positive');
    this.cents += toCents(amount);
    return this.record('deposit', amount);
  }

  withdraw(amount: number): number {
    if (amount <= 0) throw new RangeError('withdrawal must be positive');
    if (toCents(amount) > toCents(this.available())) {
      throw new InsufficientFundsError(amount, this.available());
    }
    this.cents -= toCents(amount);
    return this.record('withdrawal', amount);
  }

  /** Month-end fee: none from 1000, 10 when overdrawn, 2 otherwise. */
  chargeMonthlyFee(): number {
    let fee: number;
    if (this.cents >= 100000) fee = 0;
    else if (this.cents < 0) fee = 10;
    else fee = 2;
    if (fee > 0) {
      this.cents -= toCents(fee);
      this.record('fee', fee);
    }
    return fee;
  }

  private record(kind: TransactionKind, amount: number): number {
    this.history.push({ kind, amount, balanceAfter: this.balance });
    return this.balance;
  }
}

export function totalByKind(history: Transaction[], kind: TransactionKind): number {
  return history.filter((t) => t.kind === kind).reduce((sum, t) => sum + toCents(t.amount), 0) / 100;
}

export function transfer(from: Account, to: Account, amount: number): void {
  if (from === to) throw new Error('cannot transfer to the same account');
  from.withdraw(amount);
  to.deposit(amount);
}
