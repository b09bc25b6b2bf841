package com.example.bank;

import java.math.BigDecimal;
import java.util.Objects;

public record Money(BigDecimal amount, Currency currency) {

    public Money {
        Objects.requireNonNull(amount, "amount");
        Objects.requireNonNull(currency, "currency");
    }

    public Money(long cents) {
        this(BigDecimal.valueOf(cents, 2), Currency.EUR);
    }

    public Money plus(Money other) {
        if (other.currency != currency) {
            throw new IllegalArgumentException("currency mismatch");
        }
        return new Money(amount.add(other.amount), currency);
    }

    public static Money zero(Currency currency) {
        return new Money(BigDecimal.ZERO, currency);
    }

    public enum Currency {
        EUR("€") {
            @Override
            String describe() {
                return "euro";
            }
        },
        USD("$");

        private final String symbol;

        Currency(String symbol) {
            this.symbol = symbol;
        }

        String describe() {
            return name().toLowerCase();
        }

        public String symbol() {
            return symbol;
        }
    }
}

record Range(int low, int high) {
    Range(int low, int high) {
        if (low > high) {
            throw new IllegalArgumentException(low + " > " + high);
        }
        this.low = low;
        this.high = high;
    }

    boolean contains(int value) {
        return low <= value && value <= high;
    }
}
