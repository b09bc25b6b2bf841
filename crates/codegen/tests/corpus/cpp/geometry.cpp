#include <cmath>
#include <iostream>

struct Point {
    double x;
    double y;

    Point(double x, double y) : x(x), y(y) {}

    double norm() const {
        return std::sqrt(x * x + y * y);
    }

    Point operator-(const Point& other) const { return {x - other.x, y - other.y}; }

protected:
    void reset() { x = y = 0; }
};

class Shape {
    int id_ = 0;

public:
    virtual ~Shape() {}
    virtual double area() const = 0;

    int id() const { return id_; }

    struct Bounds {
        Point low;
        Point high;

        double width() const { return high.x - low.x; }
    };
};

class Circle : public Shape {
public:
    explicit Circle(double radius) : radius_(radius) {}

    double area() const override {
        return M_PI * radius_ * radius_;
    }

private:
    double radius_;
};

static double distance(const Point& a, const Point& b);

/* Distance between two points. */
static double distance(const Point& a, const Point& b) {
    return (a - b).norm();
}

std::ostream& operator<<(std::ostream& out, const Point& p) {
    return out << "(" << p.x << ", " << p.y << ")";
}

int main(int argc, char** argv) {
    Circle c(2.0);
    std::cout << c.area() << " " << distance({0, 0}, {3, 4}) << "\n";
    return 0;
}
