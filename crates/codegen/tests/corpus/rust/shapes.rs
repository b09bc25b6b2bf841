pub mod geometry {
    use std::f64::consts::PI;

    pub trait Shape {
        fn area(&self) -> f64;

        /// A label for the shape, with its area.
        fn describe(&self) -> String {
            format!("shape of area {:.2}", self.area())
        }

        fn unit_label() -> &'static str
        where
            Self: Sized,
        {
            "m²"
        }
    }

    pub struct Circle {
        pub radius: f64,
    }

    impl Circle {
        pub const fn new(radius: f64) -> Self {
            Circle { radius }
        }

        pub fn scaled(&self, by: f64) -> Circle {
            Circle::new(self.radius * by)
        }
    }

    impl Shape for Circle {
        fn area(&self) -> f64 {
            PI * self.radius * self.radius
        }
    }

    pub mod polygons {
        pub struct Square(pub f64);

        impl super::Shape for Square {
            fn area(&self) -> f64 {
                self.0 * self.0
            }
        }

        pub fn unit_square() -> Square {
            Square(1.0)
        }
    }

    pub fn total_area(shapes: &[&dyn Shape]) -> f64 {
        shapes.iter().map(|shape| shape.area()).sum()
    }
}

trait Named {
    fn name(&self) -> &str {
        "unnamed"
    }
}

impl<'a> Named for &'a str {
    fn name(&self) -> &str {
        self
    }
}
