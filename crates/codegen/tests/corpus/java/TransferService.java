package com.example.bank;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

@Service
public final class TransferService {

    private final Map<String, BaseAccount> accounts = new ConcurrentHashMap<>();
    private final Clock clock;

    @Inject
    public TransferService(Clock clock) {
        this.clock = clock;
    }

    /**
     * Moves money between two accounts.
     *
     * @return the transfer's receipt
     */
    @Transactional
    @Timed(name = "transfer")
    public Receipt transfer(String from, String to, Money amount) throws InsufficientFundsException {
        BaseAccount source = find(from).orElseThrow();
        BaseAccount target = find(to).orElseThrow();
        Runnable audit = new Runnable() {
            @Override
            public void run() {
                System.out.println("audit " + from);
            }
        };
        audit.run();
        target.deposit(amount.amount());
        return new Receipt(from, to, amount, clock.now());
    }

    public CompletableFuture<Receipt> transferAsync(String from, String to, Money amount) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return transfer(from, to, amount);
            } catch (InsufficientFundsException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    Optional<BaseAccount> find(String id) {
        return Optional.ofNullable(accounts.get(id));
    }

    private static <K, V> V firstValue(Map<K, V> map, V... fallbacks) {
        return map.values().stream().findFirst().orElse(fallbacks[0]);
    }

    public interface Clock {
        long now();
    }

    public record Receipt(String from, String to, Money amount, long at) {
    }
}
