//! Command-line entry point of {{ project_name }}.

fn main() {
    let name = std::env::args().nth(1);
    let name = name.as_deref().unwrap_or("world");
    println!("{}", {{ crate_name }}::greeting(name));
}
