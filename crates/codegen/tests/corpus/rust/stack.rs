//! A bounded stack.

use std::fmt;

/// A stack that refuses to grow past its capacity.
#[derive(Debug, Clone)]
pub struct Stack<T> {
    items: Vec<T>,
    capacity: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl<T> Stack<T> {
    /// An empty stack holding at most `capacity` items.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            items: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// Pushes `item`, or gives it back when the stack is full.
    #[must_use = "a full stack refuses the item"]
    pub fn push(&mut self, item: T) -> Result<(), Full> {
        if self.is_full() {
            return Err(Full);
        }
        self.items.push(item);
        Ok(())
    }

    pub fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }

    fn is_full(&self) -> bool {
        self.items.len() >= self.capacity
    }

    pub(crate) fn drain_all(&mut self) -> impl Iterator<Item = T> + '_ {
        let keep = |_: &T| false;
        self.items.drain(..).filter(move |item| !keep(item))
    }
}

impl<T: fmt::Display> fmt::Display for Stack<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            write!(f, "{item} ")?;
        }
        Ok(())
    }
}

impl<T> Default for Stack<T> {
    fn default() -> Self {
        Self::with_capacity(16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> Stack<u8> {
        let mut stack = Stack::with_capacity(1);
        let _ = stack.push(1);
        stack
    }

    #[test]
    fn a_full_stack_refuses() {
        assert_eq!(filled().push(2), Err(Full));
    }
}
