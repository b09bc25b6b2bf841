package mathutil

import "math"

// Number is any numeric type.
type Number interface {
	~int | ~int64 | ~float64
}

// Sum adds all the values.
func Sum[N Number](values ...N) N {
	var total N
	for _, v := range values {
		total += v
	}
	return total
}

// Clamp limits v to the range [low, high].
func Clamp(v, low, high float64) float64 {
	return math.Max(low, math.Min(v, high))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// LCM is the least common multiple of a and b.
func LCM(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	return a / gcd(a, b) * b
}

// Vector is a point in the plane.
type Vector struct{ X, Y float64 }

func (v Vector) Length() float64 { return math.Hypot(v.X, v.Y) }

func (v *Vector) Scale(by float64) {
	v.X *= by
	v.Y *= by
}

func (v Vector) normalized() Vector {
	n := v.Length()
	if n == 0 {
		return v
	}
	return Vector{v.X / n, v.Y / n}
}

func Fibonacci() func() int {
	a, b := 0, 1
	return func() int {
		a, b = b, a+b
		return a
	}
}
