using System;

public static class MathUtils
{
    public static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }
        return Math.Abs(a);
    }

    public static int Lcm(int a, int b) => a / Gcd(a, b) * b;

    public static double Clamp(double value, double min, double max)
    {
        int Compare(double x, double y) => x.CompareTo(y);
        if (Compare(value, min) < 0) return min;
        return Compare(value, max) > 0 ? max : value;
    }

    static bool IsPrime(int n)
    {
        if (n < 2) return false;
        for (var i = 2; i * i <= n; i++)
        {
            if (n % i == 0) return false;
        }
        return true;
    }
}

public abstract class Shape
{
    public abstract double Area();

    public virtual string Describe() => $"{GetType().Name} of area {Area():F2}";
}

public class Rectangle : Shape
{
    public Rectangle(double width, double height)
    {
        Width = width;
        Height = height;
    }

    public double Width { get; }
    public double Height { get; }

    public override double Area() => Width * Height;

    public static Rectangle operator *(Rectangle r, double factor) =>
        new(r.Width * factor, r.Height * factor);
}
