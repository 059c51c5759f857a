//! Levels of the session cache beyond this process: [`redis`], shared by replicas.

pub mod redis;
