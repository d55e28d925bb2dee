//! `sleep-secs [N]`: sleeps N seconds (default: an hour, i.e. "forever" for
//! any test), then exits 0.

use std::time::Duration;

fn main() {
    let secs = std::env::args().nth(1).map_or(3600, |n| n.parse::<u64>().expect("usage: sleep-secs [SECONDS]"));
    std::thread::sleep(Duration::from_secs(secs));
}
