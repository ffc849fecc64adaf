//! Where the password of an encrypted secret key comes from. Passed in like
//! progress, so the library never decides on its own to talk to a terminal.

use std::io::IsTerminal;
use std::path::Path;

use super::keys::KeyError;

/// The environment variable that supplies a key password to scripts and
/// tests instead of a terminal prompt.
pub const PASSWORD_ENV: &str = "GGEN_KEY_PASSWORD";

/// Supplies passwords for secret keys.
pub trait PasswordSource {
    /// The password of the existing key file `key_file`.
    fn password(&self, key_file: &Path) -> Result<String, KeyError>;

    /// A password for a new key to be written to `key_file`; never empty.
    fn new_password(&self, key_file: &Path) -> Result<String, KeyError>;
}

/// `GGEN_KEY_PASSWORD` if it is set, otherwise a prompt on the terminal
/// without echo (typed twice for a new key); with neither, a clear refusal.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvOrTerminal;

impl PasswordSource for EnvOrTerminal {
    fn password(&self, key_file: &Path) -> Result<String, KeyError> {
        match std::env::var(PASSWORD_ENV) {
            Ok(password) => Ok(password),
            Err(_) => prompt(key_file, &format!("Password for {}: ", key_file.display())),
        }
    }

    fn new_password(&self, key_file: &Path) -> Result<String, KeyError> {
        let password = match std::env::var(PASSWORD_ENV) {
            Ok(password) => password,
            Err(_) => {
                let first = prompt(key_file, &format!("New password for {}: ", key_file.display()))?;
                let second = prompt(key_file, "The same password again: ")?;
                if first != second {
                    return Err(KeyError::PasswordsDiffer);
                }
                first
            }
        };
        if password.is_empty() {
            return Err(KeyError::EmptyPassword);
        }
        Ok(password)
    }
}

/// Reads a password from the controlling terminal without echo. Standard
/// input must be a terminal: a script piping data in must not be stopped by
/// a prompt it cannot answer.
fn prompt(key_file: &Path, text: &str) -> Result<String, KeyError> {
    if !std::io::stdin().is_terminal() {
        return Err(KeyError::NoTerminal {
            path: key_file.to_owned(),
        });
    }
    rpassword::prompt_password(text).map_err(|source| KeyError::Prompt { source })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fixed answer, or none (like a run without terminal or variable).
    pub(crate) struct Given(Option<&'static str>);

    impl Given {
        pub(crate) fn password(password: &'static str) -> Self {
            Given(Some(password))
        }

        pub(crate) fn none() -> Self {
            Given(None)
        }
    }

    impl PasswordSource for Given {
        fn password(&self, key_file: &Path) -> Result<String, KeyError> {
            self.0.map(str::to_owned).ok_or_else(|| KeyError::NoTerminal {
                path: key_file.to_owned(),
            })
        }

        fn new_password(&self, key_file: &Path) -> Result<String, KeyError> {
            self.password(key_file)
        }
    }
}
