//! `ggen-market`: the command-line face of ggen_marketplace. All logic lives
//! in the library; this only parses, calls and prints.

mod cli;

fn main() {
    std::process::exit(cli::run());
}
