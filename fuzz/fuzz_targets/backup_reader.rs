//! The backup reader (`doq-storage/src/backup`) on arbitrary bytes: an upload to `/db/restore` or
//! a file given to `doq restore`. It must answer an error, never panic, allocate without bound or
//! loop forever.
#![no_main]
use doq_storage::backup::Reader;
use libfuzzer_sys::fuzz_target;

/// More items than any input of the fuzzer's size can hold: a bound, so a bug cannot hang the run.
const MAX_ITEMS: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = Reader::open(data) else {
        return;
    };
    let _ = reader.header();
    for _ in 0..MAX_ITEMS {
        match reader.next_item() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
});
