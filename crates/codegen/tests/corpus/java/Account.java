package com.example.bank;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/** Something that holds money. */
public interface Account {
    BigDecimal balance();

    /** Whether the account can pay `amount`. */
    default boolean canPay(BigDecimal amount) {
        return balance().compareTo(amount) >= 0;
    }

    static Account empty() {
        return () -> BigDecimal.ZERO;
    }

    private static String label() {
        return "account";
    }
}

abstract class BaseAccount implements Account {
    protected final List<BigDecimal> entries = new ArrayList<>();

    protected BaseAccount() {
    }

    protected BaseAccount(BigDecimal opening) {
        entries.add(opening);
    }

    public abstract String kind();

    @Override
    public BigDecimal balance() {
        return entries.stream().reduce(BigDecimal.ZERO, BigDecimal::add);
    }

    // Records a deposit; negative amounts are refused.
    public void deposit(BigDecimal amount) {
        if (amount.signum() < 0) {
            throw new IllegalArgumentException("negative deposit");
        }
        entries.add(amount);
    }

    public void deposit(long cents) {
        deposit(BigDecimal.valueOf(cents, 2));
    }

    public class Statement {
        private final String title;

        public Statement(String title) {
            this.title = title;
        }

        public String render() {
            return title + ": " + balance();
        }

        static class Line {
            String format(BigDecimal amount, int width) {
                return String.format("%" + width + "s", amount);
            }
        }
    }
}
