//! {{ description }}

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// {{ description }}
#[derive(Debug, Parser)]
#[command(name = "{{ project_name }}", version, about)]
struct Cli {
    /// Report what is being done on standard error.
    #[arg(short, long, global = true)]
    verbose: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Greet someone.
    Greet {
        /// Who to greet.
        #[arg(default_value = "world")]
        name: String,
        /// Greet in capital letters.
        #[arg(long)]
        shout: bool,
    },
    /// Count the lines, words and bytes of files, like `wc`.
    Count {
        /// Files to read; none, or `-`, reads standard input.
        files: Vec<PathBuf>,
    },
}

/// Line, word and byte counts of one input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    lines: usize,
    words: usize,
    bytes: usize,
}

impl Counts {
    /// Counts like `wc`: `lines` is the number of newlines.
    fn of(mut reader: impl BufRead) -> io::Result<Self> {
        let mut counts = Counts::default();
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line)? > 0 {
            counts.bytes += line.len();
            counts.lines += usize::from(line.ends_with(b"\n"));
            counts.words += line
                .split(u8::is_ascii_whitespace)
                .filter(|word| !word.is_empty())
                .count();
            line.clear();
        }
        Ok(counts)
    }

    fn add(&mut self, other: Counts) {
        self.lines += other.lines;
        self.words += other.words;
        self.bytes += other.bytes;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{{ project_name }}: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Greet { name, shout } => {
            let greeting = {{ crate_name }}::greeting(&name);
            println!(
                "{}",
                if shout {
                    greeting.to_uppercase()
                } else {
                    greeting
                }
            );
        }
        Command::Count { mut files } => {
            if files.is_empty() {
                files.push(PathBuf::from("-"));
            }
            let mut total = Counts::default();
            for path in &files {
                if cli.verbose {
                    eprintln!("reading {}", path.display());
                }
                let counts =
                    count(path).with_context(|| format!("cannot read {}", path.display()))?;
                println!(
                    "{} {} {} {}",
                    counts.lines,
                    counts.words,
                    counts.bytes,
                    path.display()
                );
                total.add(counts);
            }
            if files.len() > 1 {
                println!("{} {} {} total", total.lines, total.words, total.bytes);
            }
        }
    }
    Ok(())
}

fn count(path: &Path) -> io::Result<Counts> {
    if path == Path::new("-") {
        Counts::of(io::stdin().lock())
    } else {
        Counts::of(BufReader::new(File::open(path)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_words_and_bytes() {
        let counts = Counts::of(&b"one two\n  three\n"[..]).unwrap();
        assert_eq!(
            counts,
            Counts {
                lines: 2,
                words: 3,
                bytes: 16
            }
        );
    }

    #[test]
    fn a_last_line_without_newline_is_not_a_line() {
        let counts = Counts::of(&b"a b"[..]).unwrap();
        assert_eq!(
            counts,
            Counts {
                lines: 0,
                words: 2,
                bytes: 3
            }
        );
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
