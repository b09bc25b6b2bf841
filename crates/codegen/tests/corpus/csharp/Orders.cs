using System;
using System.Collections.Generic;
using System.Linq;

namespace Shop.Orders;

/// <summary>A line of an order.</summary>
public record OrderLine(string Sku, int Quantity, decimal UnitPrice)
{
    public decimal Total => Quantity * UnitPrice;

    public OrderLine WithQuantity(int quantity) => this with { Quantity = quantity };
}

public record Money(decimal Amount, string Currency);

public readonly struct OrderId
{
    private readonly Guid _value;

    public OrderId(Guid value)
    {
        _value = value;
    }

    public static OrderId New() => new(Guid.NewGuid());

    public override string ToString() => _value.ToString("N");
}

public class Order
{
    private readonly List<OrderLine> _lines = new();

    public Order(OrderId id) : this(id, DateTime.UtcNow)
    {
    }

    public Order(OrderId id, DateTime placedAt)
    {
        Id = id;
        PlacedAt = placedAt;
    }

    public OrderId Id { get; }
    public DateTime PlacedAt { get; }

    // Adds a line, merging it with an existing line of the same SKU.
    public void Add(OrderLine line)
    {
        var existing = _lines.FindIndex(l => l.Sku == line.Sku);
        if (existing >= 0)
        {
            _lines[existing] = _lines[existing].WithQuantity(_lines[existing].Quantity + line.Quantity);
            return;
        }
        _lines.Add(line);
    }

    public void Add(string sku, int quantity, decimal unitPrice) =>
        Add(new OrderLine(sku, quantity, unitPrice));

    public decimal Total() => _lines.Sum(line => line.Total);

    private bool IsEmpty()
    {
        return _lines.Count == 0;
    }
}
