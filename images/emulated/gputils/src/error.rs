//! The crate's one error type: a message, like the Python utilities' exception strings.
//!
//! The utilities print errors inside Cloudberry's fixed sentences (`Error initializing standby
//! coordinator: <msg>`), so an error is only ever rendered, never matched on: a string is enough.

use std::fmt;

/// An error carrying the text Cloudberry would print for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with this message.
    pub fn msg(m: impl Into<String>) -> Self {
        Error(m.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error(s.to_string())
    }
}

/// Return early with an [`Error`] built like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error(format!($($arg)*))) };
}
pub(crate) use bail;
