//! Benchmark tools for VANTA (see `make bench`).
