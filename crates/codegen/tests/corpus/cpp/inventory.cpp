#include "inventory.h"

#include <algorithm>
#include <string>

namespace shop {
namespace detail {

int clamp_quantity(int quantity);

int clamp_quantity(int quantity) {
    return std::max(0, quantity);
}

}  // namespace detail

class Inventory {
public:
    Inventory();
    explicit Inventory(std::string name);
    ~Inventory();

    void add(const std::string& sku, int quantity);
    int count(const std::string& sku) const;
    static Inventory merged(const Inventory& a, const Inventory& b);

private:
    bool knows(const std::string& sku) const;

    std::string name_;
    std::map<std::string, int> stock_;
};

Inventory::Inventory() : name_("default") {}

Inventory::Inventory(std::string name) : name_(std::move(name)) {}

Inventory::~Inventory() {}

void Inventory::add(const std::string& sku, int quantity) {
    stock_[sku] += detail::clamp_quantity(quantity);
}

int Inventory::count(const std::string& sku) const {
    if (!knows(sku)) {
        return 0;
    }
    return stock_.at(sku);
}

Inventory Inventory::merged(const Inventory& a, const Inventory& b) {
    Inventory result(a.name_ + "+" + b.name_);
    for (const auto& [sku, quantity] : b.stock_) {
        result.stock_[sku] = a.count(sku) + quantity;
    }
    return result;
}

bool Inventory::knows(const std::string& sku) const {
    return stock_.find(sku) != stock_.end();
}

}  // namespace shop

int shop::detail::restock_level(int sold) {
    return sold * 2;
}
