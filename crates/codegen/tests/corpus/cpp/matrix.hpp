#pragma once

#include <cstddef>
#include <stdexcept>
#include <vector>

namespace linalg {

/// A dense row-major matrix.
template <typename T>
class Matrix {
public:
    Matrix(std::size_t rows, std::size_t cols) : rows_(rows), cols_(cols), data_(rows * cols) {}

    ~Matrix() = default;

    // The element at (row, col), checked.
    T& at(std::size_t row, std::size_t col) {
        if (row >= rows_ || col >= cols_) {
            throw std::out_of_range("matrix index");
        }
        return data_[row * cols_ + col];
    }

    std::size_t rows() const { return rows_; }

    Matrix operator+(const Matrix& other) const {
        Matrix sum(rows_, cols_);
        for (std::size_t i = 0; i < data_.size(); ++i) {
            sum.data_[i] = data_[i] + other.data_[i];
        }
        return sum;
    }

    static Matrix identity(std::size_t n) {
        Matrix m(n, n);
        for (std::size_t i = 0; i < n; ++i) {
            m.at(i, i) = T{1};
        }
        return m;
    }

    bool operator==(const Matrix& other) const;

private:
    void check_same_shape(const Matrix& other) const {
        if (rows_ != other.rows_ || cols_ != other.cols_) {
            throw std::invalid_argument("shape mismatch");
        }
    }

    std::size_t rows_;
    std::size_t cols_;
    std::vector<T> data_;
};

template <typename T>
bool Matrix<T>::operator==(const Matrix& other) const {
    return rows_ == other.rows_ && cols_ == other.cols_ && data_ == other.data_;
}

template <typename T>
T trace(const Matrix<T>& m) {
    T sum{};
    for (std::size_t i = 0; i < m.rows(); ++i) {
        sum += const_cast<Matrix<T>&>(m).at(i, i);
    }
    return sum;
}

}  // namespace linalg
