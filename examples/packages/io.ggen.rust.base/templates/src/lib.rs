//! {{ description }}

/// Returns the greeting for `name`.
///
/// ```
/// assert_eq!({{ crate_name }}::greeting("world"), "Hello, world!");
/// ```
pub fn greeting(name: &str) -> String {
    format!("Hello, {name}!")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name() {
        assert_eq!(greeting("Ada"), "Hello, Ada!");
    }
}
