//! The gate's rules for the archive of a new line: it exists (in the head
//! commit where a relative `dl` points, or downloaded), matches `cksum`,
//! passes every install-time extraction check without being written
//! anywhere, and its manifest agrees with the line.

use sha2::{Digest, Sha256};

use super::{Gate, GateError};
use crate::archive::unpack::{ExtractLimits, check_archive};
use crate::format::IndexEntry;
use crate::format::rules::FindingKind;
use crate::format::rules::manifest::manifest_disagreement;
use crate::sources::PackageSource;

impl Gate<'_> {
    pub(super) fn archive(
        &mut self,
        path: &str,
        line: usize,
        entry: &IndexEntry,
        version: &semver::Version,
    ) -> Result<(), GateError> {
        let in_index = self
            .config
            .archive_path_in_index(&entry.name, &entry.vers, &entry.cksum);
        if let Some(archive_path) = &in_index {
            self.named_archives.push(archive_path.clone());
        }
        let at = |gate: &mut Self, kind, message| gate.find(path, Some(line), kind, message);
        let provided = self
            .options
            .provided_archives
            .get(&entry.cksum)
            .filter(|_| in_index.is_none());
        let fetched = match provided {
            Some(bytes) => Ok(bytes.clone()),
            None => self.head.fetch_archive(entry).map(|fetched| fetched.bytes),
        };
        let bytes = match fetched {
            Ok(bytes) => bytes,
            Err(e) => {
                let where_ =
                    in_index.map_or_else(|| "where `dl` points".to_owned(), |p| format!("at {p} in this commit"));
                at(
                    self,
                    FindingKind::ArchiveMissing,
                    format!("the archive of {} {} is not {where_}: {e}", entry.name, entry.vers),
                );
                return Ok(());
            }
        };
        let actual: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if actual != entry.cksum {
            at(
                self,
                FindingKind::ArchiveChecksum,
                format!("the archive's SHA-256 is {actual}, the line's cksum {}", entry.cksum),
            );
            return Ok(());
        }
        match check_archive(bytes.as_slice(), (&entry.name, version), &ExtractLimits::default()) {
            Ok(manifest) => {
                if let Some(detail) = manifest_disagreement(&manifest, entry) {
                    at(
                        self,
                        FindingKind::ArchiveMismatch,
                        format!("the archive does not match its line: {detail}"),
                    );
                }
            }
            Err(e) => at(
                self,
                FindingKind::ArchiveUnsafe,
                format!("the archive would be refused on install: {e}"),
            ),
        }
        Ok(())
    }
}
