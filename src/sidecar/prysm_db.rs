//! An empty Prysm slashing-protection database, so that a restored node's
//! history can be imported before Prysm first runs. Prysm's own import
//! (`validator slashing-protection-history import`) refuses to run without
//! an existing `validator.db`, and only the validator itself creates one, on
//! its first start: too late, it would sign before the import. The file is
//! an empty bbolt database (bbolt's own `init`: two meta pages, an empty
//! freelist and an empty root leaf); Prysm adds its buckets when it opens it.
//! Written here because the one Rust crate that writes bbolt files is a
//! partial port that would bring a score of crates for four fixed pages.

use std::{io, path::Path};

/// bbolt's format constants (`bbolt/internal/common`).
const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_SIZE: usize = 4096;
const META_PAGE: u16 = 0x04;
const FREELIST_PAGE: u16 = 0x10;
const LEAF_PAGE: u16 = 0x02;
const FREELIST_PGID: u64 = 2;
const ROOT_PGID: u64 = 3;
const PAGE_COUNT: u64 = 4;

/// The name Prysm gives its database in `--datadir`.
pub const FILE_NAME: &str = "validator.db";

/// Creates `dir/validator.db` if there is none; an existing database is
/// never touched. Returns whether it created one.
pub fn create_if_missing(dir: &Path) -> io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    crate::files::write_new(&dir.join(FILE_NAME), &empty_database(), 0o600)
}

fn empty_database() -> Vec<u8> {
    let mut file = vec![0u8; PAGE_SIZE * PAGE_COUNT as usize];
    for txid in 0..2u64 {
        let page = &mut file[txid as usize * PAGE_SIZE..];
        page_header(page, txid, META_PAGE);
        let mut meta = Vec::with_capacity(64);
        meta.extend_from_slice(&MAGIC.to_le_bytes());
        meta.extend_from_slice(&VERSION.to_le_bytes());
        meta.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
        meta.extend_from_slice(&0u32.to_le_bytes());
        meta.extend_from_slice(&ROOT_PGID.to_le_bytes());
        meta.extend_from_slice(&0u64.to_le_bytes());
        meta.extend_from_slice(&FREELIST_PGID.to_le_bytes());
        meta.extend_from_slice(&PAGE_COUNT.to_le_bytes());
        meta.extend_from_slice(&txid.to_le_bytes());
        let checksum = fnv1a64(&meta);
        meta.extend_from_slice(&checksum.to_le_bytes());
        page[16..16 + meta.len()].copy_from_slice(&meta);
    }
    page_header(&mut file[FREELIST_PGID as usize * PAGE_SIZE..], FREELIST_PGID, FREELIST_PAGE);
    page_header(&mut file[ROOT_PGID as usize * PAGE_SIZE..], ROOT_PGID, LEAF_PAGE);
    file
}

/// A page header: id, flags, element count 0, no overflow.
fn page_header(page: &mut [u8], id: u64, flags: u16) {
    page[..8].copy_from_slice(&id.to_le_bytes());
    page[8..10].copy_from_slice(&flags.to_le_bytes());
}

/// bbolt checksums its meta page with 64-bit FNV-1a.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn an_existing_database_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        assert!(create_if_missing(dir.path()).unwrap());
        std::fs::write(dir.path().join(FILE_NAME), b"history").unwrap();
        assert!(!create_if_missing(dir.path()).unwrap());
        assert_eq!(std::fs::read(dir.path().join(FILE_NAME)).unwrap(), b"history");
    }

    #[test]
    fn the_empty_database_has_two_meta_pages_pointing_at_its_freelist_and_root() {
        let file = empty_database();
        assert_eq!(file.len(), 4 * PAGE_SIZE);
        for txid in 0..2 {
            let meta = &file[txid * PAGE_SIZE + 16..];
            assert_eq!(u32::from_le_bytes(meta[..4].try_into().unwrap()), MAGIC);
            assert_eq!(u64::from_le_bytes(meta[16..24].try_into().unwrap()), ROOT_PGID);
            assert_eq!(u64::from_le_bytes(meta[48..56].try_into().unwrap()), txid as u64);
            assert_eq!(u64::from_le_bytes(meta[56..64].try_into().unwrap()), fnv1a64(&meta[..56]));
        }
    }
}
