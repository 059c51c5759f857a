//! Demo mode (placeholder until the embedded upstream lands).

/// Runs the demo.
pub async fn run(_listen: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("demo mode is not built yet"))
}
