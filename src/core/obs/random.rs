//! Cheap unique numbers for ids (request ids, trace and span ids of unsampled traces): a
//! per-thread SplitMix64 stream seeded by the OS, so no system call per id. Unique, not
//! unpredictable: never a secret.

thread_local! {
    static RANDOM_STATE: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: time and thread still make streams distinct.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let thread = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::thread::current().id(),
        );
        return nanos ^ thread;
    }
    u64::from_le_bytes(b)
}

/// The next number of this thread's stream (SplitMix64, Steele, Lea, Flood 2014).
pub fn next_u64() -> u64 {
    RANDOM_STATE.with(|state| {
        let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}
