"""Geometric shapes with areas, perimeters and a small registry."""

import math
from dataclasses import dataclass


class Shape:
    """Base class of every shape."""

    def __init__(self, name: str) -> None:
        self.name = name

    def area(self) -> float:
        raise NotImplementedError

    def describe(self, precision: int = 2) -> str:
        """A one-line description of the shape."""
        return f"{self.name} with area {self.area():.{precision}f}"

    def _validate(self):
        if not self.name:
            raise ValueError("a shape needs a name")


class Circle(Shape):
    def __init__(self, radius: float):
        super().__init__("circle")
        self.radius = radius

    def area(self) -> float:
        return math.pi * self.radius ** 2

    @property
    def diameter(self) -> float:
        return self.radius * 2

    @staticmethod
    def unit() -> "Circle":
        return Circle(1.0)

    @classmethod
    def from_diameter(cls, diameter: float) -> "Circle":
        return cls(diameter / 2)


class Polygon(Shape):
    class Edge:
        def __init__(self, start, end):
            self.start = start
            self.end = end

        def length(self) -> float:
            (x1, y1), (x2, y2) = self.start, self.end
            return math.hypot(x2 - x1, y2 - y1)

    def __init__(self, *points):
        super().__init__("polygon")
        self.points = list(points)

    def edges(self):
        def pair(i):
            return self.points[i], self.points[(i + 1) % len(self.points)]

        return [Polygon.Edge(*pair(i)) for i in range(len(self.points))]

    def perimeter(self) -> float:
        return sum(edge.length() for edge in self.edges())


@dataclass
class Registry:
    shapes: list

    def total_area(self) -> float:
        return sum(shape.area() for shape in self.shapes)


def largest(shapes):
    return max(shapes, key=lambda shape: shape.area())
