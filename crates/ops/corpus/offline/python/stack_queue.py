"""A bounded stack and a FIFO queue with their own error type."""

from typing import Generic, List, Optional, TypeVar

T = TypeVar("T")


class EmptyContainerError(Exception):
    """Raised when popping or peeking an empty container."""

    def __init__(self, container: str):
        super().__init__(f"{container} is empty")
        self.container = container


class Stack(Generic[T]):
    """A LIFO stack with an optional capacity."""

    def __init__(self, capacity: Optional[int] = None):
        if capacity is not None and capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._items: List[T] = []
        self.capacity = capacity

    def push(self, item: T) -> None:
        if self.capacity is not None and len(self._items) >= self.capacity:
            raise OverflowError(f"stack is full ({self.capacity} items)")
        self._items.append(item)

    def pop(self) -> T:
        if not self._items:
            raise EmptyContainerError("stack")
        return self._items.pop()

    def peek(self) -> T:
        if not self._items:
            raise EmptyContainerError("stack")
        return self._items[-1]

    def is_empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)


class Queue(Generic[T]):
    """A FIFO queue built on two lists (amortised O(1) dequeue)."""

    def __init__(self) -> None:
        self._inbox: List[T] = []
        self._outbox: List[T] = []

    def enqueue(self, item: T) -> None:
        self._inbox.append(item)

    def dequeue(self) -> T:
        if not self._outbox:
            if not self._inbox:
                raise EmptyContainerError("queue")
            while self._inbox:
                self._outbox.append(self._inbox.pop())
        return self._outbox.pop()

    def __len__(self) -> int:
        return len(self._inbox) + len(self._outbox)


def balanced_brackets(text: str) -> bool:
    """Check that (), [] and {} in ``text`` are balanced, using a Stack."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: Stack[str] = Stack()
    for ch in text:
        if ch in "([{":
            stack.push(ch)
        elif ch in pairs:
            if stack.is_empty() or stack.pop() != pairs[ch]:
                return False
    return stack.is_empty()
