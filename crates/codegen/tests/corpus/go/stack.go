// Package collections holds small generic containers.
package collections

import (
	"errors"
	"sort"
)

// ErrEmpty is returned when popping an empty container.
var ErrEmpty = errors.New("collections: empty")

// Stack is a last-in, first-out list.
type Stack[T any] struct {
	items []T
}

// NewStack returns an empty stack with room for capacity items.
func NewStack[T any](capacity int) *Stack[T] {
	return &Stack[T]{items: make([]T, 0, capacity)}
}

// Push adds v on top.
func (s *Stack[T]) Push(v T) {
	s.items = append(s.items, v)
}

// Pop removes and returns the top item.
func (s *Stack[T]) Pop() (T, error) {
	var zero T
	if len(s.items) == 0 {
		return zero, ErrEmpty
	}
	top := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return top, nil
}

func (s Stack[T]) Len() int { return len(s.items) }

func (s *Stack[T]) grow(extra int) {
	if cap(s.items)-len(s.items) < extra {
		bigger := make([]T, len(s.items), 2*cap(s.items)+extra)
		copy(bigger, s.items)
		s.items = bigger
	}
}

// Set is an unordered collection of distinct keys.
type Set map[string]struct{}

func (set Set) Add(keys ...string) {
	for _, key := range keys {
		set[key] = struct{}{}
	}
}

// Sorted returns the keys in ascending order.
func (set Set) Sorted() []string {
	keys := make([]string, 0, len(set))
	for key := range set {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i] < keys[j]
	})
	return keys
}

// Map applies f to every element of xs.
func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}
