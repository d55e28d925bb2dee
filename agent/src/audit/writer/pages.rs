//! Splitting a batch of records into writes that a killed process cannot
//! tear in the middle (part of `audit`, layer L1).
//!
//! Linux copies a `write(2)` into the page cache one page at a time and stops
//! between two pages when the process is being killed (SIGKILL, the OOM
//! killer): a write that spans pages may land only in part, leaving half a
//! record at the end of the file, and the next agent's first record would
//! continue that line. Within one page a write lands whole or not at all.
//! So a batch is written in pieces that end on a record boundary and stay in
//! the page the end of the file is in; only a record longer than what is left
//! of that page crosses into the next one, as it would written alone. A batch
//! of a few records takes one or two writes instead of one per record.

/// Bytes of a page of the page cache on the platforms the agent runs on (a
/// larger page only makes the pieces safer).
const PAGE: u64 = 4096;

/// Where the next piece of a batch ends: the batch's records end at `ends`
/// (ascending, the last one its length), the piece starts at `start`, and the
/// file is `len` bytes long before it. Always past `start` while records
/// remain.
pub(super) fn next_piece(ends: &[usize], start: usize, len: u64) -> usize {
    let room = usize::try_from(PAGE - len % PAGE).unwrap_or(usize::MAX);
    let mut remaining = ends.iter().copied().filter(|&end| end > start);
    let Some(first) = remaining.next() else { return start };
    if first - start > room {
        return first;
    }
    remaining.take_while(|&end| end - start <= room).last().unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_stay_in_the_page_of_the_end_of_the_file() {
        let ends = [1000, 2000, 3000, 4000, 5000];
        // An empty file: four records fit in the first page, the fifth does not.
        assert_eq!(next_piece(&ends, 0, 0), 4000);
        assert_eq!(next_piece(&ends, 4000, 4000), 5000);
        // 100 bytes left in the page: the next record crosses alone.
        assert_eq!(next_piece(&ends, 0, 3996), 1000);
        // Room for exactly two records.
        assert_eq!(next_piece(&ends, 1000, 4096 * 3 + 2096), 3000);
        // A record exactly filling the page is one piece.
        assert_eq!(next_piece(&[4096, 4196], 0, 8192), 4096);
        // Nothing left to write.
        assert_eq!(next_piece(&ends, 5000, 0), 5000);
    }
}
