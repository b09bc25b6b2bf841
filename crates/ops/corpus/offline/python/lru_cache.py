"""A small least-recently-used cache with hit statistics and a memoize decorator."""

from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional


class LRUCache:
    """Keeps at most ``capacity`` entries, evicting the least recently used one."""

    def __init__(self, capacity: int = 128):
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._data: "OrderedDict[Hashable, Any]" = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: Hashable, default: Optional[Any] = None) -> Any:
        if key in self._data:
            self._data.move_to_end(key)
            self.hits += 1
            return self._data[key]
        self.misses += 1
        return default

    def put(self, key: Hashable, value: Any) -> Optional[Hashable]:
        """Store ``value``; returns the evicted key, if any."""
        if key in self._data:
            self._data.move_to_end(key)
            self._data[key] = value
            return None
        self._data[key] = value
        if len(self._data) > self.capacity:
            evicted, _ = self._data.popitem(last=False)
            self.evictions += 1
            return evicted
        return None

    def delete(self, key: Hashable) -> bool:
        if key in self._data:
            del self._data[key]
            return True
        return False

    def resize(self, capacity: int) -> int:
        """Change the capacity; returns how many entries were evicted."""
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        dropped = 0
        while len(self._data) > capacity:
            self._data.popitem(last=False)
            dropped += 1
        self.evictions += dropped
        return dropped

    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def keys(self) -> list:
        """Keys from least to most recently used."""
        return list(self._data.keys())

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data


def memoize(capacity: int = 32) -> Callable:
    """Decorator caching a one-argument function's results in an LRUCache."""

    def decorate(func: Callable[[Hashable], Any]) -> Callable[[Hashable], Any]:
        cache = LRUCache(capacity)
        missing = object()

        def wrapper(arg: Hashable) -> Any:
            value = cache.get(arg, missing)
            if value is missing:
                value = func(arg)
                cache.put(arg, value)
            return value

        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper

    return decorate


@memoize(capacity=64)
def fibonacci(n: int) -> int:
    if n < 0:
        raise ValueError("n must not be negative")
    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)
