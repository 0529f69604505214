//! Work conservation after an admin's changes (invariant 5), and the
//! public routes' flood limits.

#[allow(unused_imports)]
use crate::helpers::*;
