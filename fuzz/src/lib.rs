//! Shared pieces of the fuzz targets: biased input generators, Rust-literal printers
//! (so every input's `Debug` is a ready-to-paste reproduction) and naive models.

pub mod dialect_ops;
pub mod headers_model;
pub mod input;
pub mod lit;
pub mod table_model;
