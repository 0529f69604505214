//! Object scope over REST and sockets: who may touch which conversation
//! (invariant 6), and capacity on the manual assignment paths (invariant 4).

#[allow(unused_imports)]
use crate::helpers::*;
