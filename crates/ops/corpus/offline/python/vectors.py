"""A 2-D/3-D vector class and a few list-of-lists matrix helpers."""

import math
from typing import List, Sequence

Matrix = List[List[float]]


class Vector:
    """An immutable vector of floats."""

    def __init__(self, *components: float):
        if not components:
            raise ValueError("a vector needs at least one component")
        self.components = tuple(float(c) for c in components)

    def __len__(self) -> int:
        return len(self.components)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vector) and self.components == other.components

    def __repr__(self) -> str:
        return f"Vector{self.components}"

    def _check(self, other: "Vector") -> None:
        if len(self) != len(other):
            raise ValueError(f"dimension mismatch: {len(self)} vs {len(other)}")

    def __add__(self, other: "Vector") -> "Vector":
        self._check(other)
        return Vector(*(a + b for a, b in zip(self.components, other.components)))

    def scale(self, factor: float) -> "Vector":
        return Vector(*(c * factor for c in self.components))

    def dot(self, other: "Vector") -> float:
        self._check(other)
        return sum(a * b for a, b in zip(self.components, other.components))

    def norm(self) -> float:
        return math.sqrt(self.dot(self))

    def normalized(self) -> "Vector":
        n = self.norm()
        if n == 0:
            raise ZeroDivisionError("cannot normalize the zero vector")
        return self.scale(1 / n)

    def cross(self, other: "Vector") -> "Vector":
        if len(self) != 3 or len(other) != 3:
            raise ValueError("cross product needs two 3-D vectors")
        a1, a2, a3 = self.components
        b1, b2, b3 = other.components
        return Vector(a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1)


def shape(m: Matrix) -> tuple:
    """(rows, cols); raises if the rows are ragged."""
    if not m:
        return (0, 0)
    cols = len(m[0])
    for row in m:
        if len(row) != cols:
            raise ValueError("ragged matrix")
    return (len(m), cols)


def transpose(m: Matrix) -> Matrix:
    rows, cols = shape(m)
    return [[m[r][c] for r in range(rows)] for c in range(cols)]


def matmul(a: Matrix, b: Matrix) -> Matrix:
    """Multiply two matrices given as lists of rows."""
    ar, ac = shape(a)
    br, bc = shape(b)
    if ac != br:
        raise ValueError(f"cannot multiply {ar}x{ac} by {br}x{bc}")
    return [[sum(a[i][k] * b[k][j] for k in range(ac)) for j in range(bc)] for i in range(ar)]


def determinant(m: Matrix) -> float:
    """Determinant of a 1x1, 2x2 or 3x3 matrix."""
    rows, cols = shape(m)
    if rows != cols:
        raise ValueError("determinant needs a square matrix")
    if rows == 1:
        return m[0][0]
    if rows == 2:
        return m[0][0] * m[1][1] - m[0][1] * m[1][0]
    if rows == 3:
        total = 0.0
        for c in range(3):
            minor = [[m[r][k] for k in range(3) if k != c] for r in (1, 2)]
            sign = -1 if c % 2 else 1
            total += sign * m[0][c] * determinant(minor)
        return total
    raise NotImplementedError("only up to 3x3")


def identity(n: int) -> Matrix:
    if n < 0:
        raise ValueError("size must not be negative")
    return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]


def centroid(points: Sequence[Vector]) -> Vector:
    if not points:
        raise ValueError("no points")
    total = points[0]
    for p in points[1:]:
        total = total + p
    return total.scale(1 / len(points))
