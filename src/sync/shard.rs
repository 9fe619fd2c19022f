//! Sharding (`shard_index`, `shard_count`): when one process is not enough, `shard_count`
//! copies each sync a disjoint share of the repositories, and together all of them.
//!
//! A repository's shard is the first 8 bytes (big-endian) of SHA-256 of its lower-cased
//! `workspace/slug`, modulo `shard_count`: stable across runs and machines, independent of
//! listing order, and spread evenly. Streams that are not per repository (workspace- and
//! user-level ones) run in shard 0 only, so each of their records comes from one process.

use sha2::{Digest, Sha256};

use crate::config::Settings;

/// This process's share of the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// The whole work: one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The shard of the config (validated there: `index < count`, `count ≥ 1`), or the whole
    /// work when sharding is off.
    pub fn of(settings: &Settings) -> Shard {
        settings
            .shard
            .map_or(Shard::ALL, |(index, count)| Shard { index, count })
    }

    /// Whether this process syncs the repository `workspace/slug`.
    pub fn owns_repository(&self, workspace: &str, slug: &str) -> bool {
        repository_shard(workspace, slug, self.count) == self.index
    }

    /// Whether the work is split over several processes.
    pub fn is_sharded(&self) -> bool {
        self.count > 1
    }

    /// Whether this process syncs the streams that are not per repository (workspace- and
    /// user-level ones): shard 0 does.
    pub fn owns_unsharded(&self) -> bool {
        self.index == 0
    }
}

/// The shard of repository `workspace/slug` among `count` shards.
pub fn repository_shard(workspace: &str, slug: &str, count: u64) -> u64 {
    let digest = Sha256::digest(format!("{workspace}/{slug}").to_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % count.max(1)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn names() -> Vec<(String, String)> {
        (0..500)
            .map(|i| (format!("ws{}", i % 7), format!("Repo-{i}")))
            .collect()
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        for count in [1u64, 2, 3, 8] {
            let mut covered = HashSet::new();
            for index in 0..count {
                let shard = Shard { index, count };
                for (ws, slug) in names() {
                    if shard.owns_repository(&ws, &slug) {
                        assert!(covered.insert((ws, slug)), "two shards own one repository");
                    }
                }
            }
            assert_eq!(covered.len(), names().len(), "{count} shards cover everything");
        }
    }

    #[test]
    fn shard_is_sha256_of_lower_case_full_name() {
        // SHA-256("acme/api") starts with c7198fbc19453717.
        let expected = 0xc719_8fbc_1945_3717u64;
        assert_eq!(repository_shard("Acme", "API", u64::MAX), expected % u64::MAX);
        assert_eq!(repository_shard("acme", "api", 5), expected % 5);
        assert!(Shard::ALL.owns_repository("acme", "api") && Shard::ALL.owns_unsharded());
        assert!(!Shard { index: 1, count: 2 }.owns_unsharded());
    }
}
