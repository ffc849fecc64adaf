//! The trust checks of an install: each chosen entry's signature against
//! the keys allowed for its package, the index's signature policy, the keys
//! pinned in `GGEN_HOME/trust/`, and the signer `ggen.lock` recorded.

use super::InstallError;
use crate::format::{IndexConfig, Lockfile, RegistryIdentity};
use crate::home::GgenHome;
use crate::resolve::ResolvedPackage;
use crate::sources::PackageSource;
use crate::trust::{AllowedKeys, KeyId, NewPin, OwnerKeys, PinStore, TrustError, owner_keys_path, verify_entry};

/// Everything needed to verify the entries of one install.
pub struct SignatureCheck<'a> {
    source: &'a dyn PackageSource,
    config: IndexConfig,
    identity: &'a RegistryIdentity,
    pins: PinStore,
    lockfile: Option<&'a Lockfile>,
    accept_new_key: bool,
}

impl<'a> SignatureCheck<'a> {
    /// Reads the index's config (its keys and policy) once.
    pub fn new(
        source: &'a dyn PackageSource,
        identity: &'a RegistryIdentity,
        home: &GgenHome,
        lockfile: Option<&'a Lockfile>,
        accept_new_key: bool,
    ) -> Result<Self, InstallError> {
        Ok(SignatureCheck {
            config: source.config()?,
            source,
            identity,
            pins: PinStore::new(home.trust_dir()),
            lockfile,
            accept_new_key,
        })
    }

    /// Verifies one chosen entry; returns the signer's key id (`None` for
    /// an unsigned entry the policy accepts) and the key to pin once the
    /// install succeeds.
    pub fn verify(&self, package: &ResolvedPackage) -> Result<(Option<String>, Option<NewPin>), InstallError> {
        let name = &package.id.name;
        let owners_path = owner_keys_path(name);
        let owners_text = self.source.read_index_file(&owners_path)?.unwrap_or_default();
        let owners = OwnerKeys::parse(&owners_path, &owners_text).map_err(TrustError::from)?;
        let allowed = AllowedKeys::new(name, &self.config, owners)?;
        let verified = verify_entry(&package.entry.line, &package.entry.entry, &allowed)?;
        self.check_lockfile_signer(package, verified.key_id, &allowed)?;
        let (_, pin) = self.pins.judge(
            self.identity,
            &package.entry.entry.vers,
            &verified,
            &allowed,
            self.accept_new_key,
        )?;
        Ok((verified.key_id.map(|id| id.to_string()), pin))
    }

    /// Pins the keys the verified entries introduced: called only when the
    /// install has succeeded, so a refused or failed install pins nothing.
    pub fn remember(&self, pins: Vec<Option<NewPin>>) -> Result<(), InstallError> {
        let pins: Vec<NewPin> = pins.into_iter().flatten().collect();
        Ok(self.pins.remember(&pins)?)
    }

    /// `ggen.lock` pins the signer of each package too, so a fresh machine
    /// (empty `GGEN_HOME/trust`) that installs from a committed lockfile
    /// still refuses a version signed by a key the locked signer never
    /// vouched for.
    fn check_lockfile_signer(
        &self,
        package: &ResolvedPackage,
        signer: Option<KeyId>,
        allowed: &AllowedKeys,
    ) -> Result<(), InstallError> {
        let locked_signer = self
            .lockfile
            .iter()
            .flat_map(|lock| lock.find(&package.id.name))
            .filter(|locked| locked.source == self.identity.id())
            .find_map(|locked| locked.signer.clone());
        let (Some(locked), Some(found)) = (locked_signer, signer) else {
            return Ok(());
        };
        let locked_id = locked.parse::<KeyId>().ok();
        if locked_id == Some(found) || self.accept_new_key {
            return Ok(());
        }
        let vouched = locked_id.and_then(|id| allowed.key(id)).is_some_and(|locked_key| {
            allowed
                .owner_keys()
                .vouched_from(std::slice::from_ref(locked_key))
                .contains_key(&found)
        });
        if vouched {
            return Ok(());
        }
        Err(InstallError::LockedSignerChanged {
            name: package.id.name.clone(),
            version: package.id.version.to_string(),
            locked,
            found: found.to_string(),
        })
    }
}
