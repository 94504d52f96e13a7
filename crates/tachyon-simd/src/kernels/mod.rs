//! Kernel bodies, each written once over [`Lanes`](crate::lanes::Lanes) and instantiated per instruction set by
//! [`crate::table`]. They take raw pointers and lengths; the table's safe entry points check the slices.

pub(crate) mod map;
pub mod math;
pub mod optim;
pub(crate) mod probe;
pub(crate) mod reduce;
