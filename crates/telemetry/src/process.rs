//! Per-process metrics read from `/proc/self`.
