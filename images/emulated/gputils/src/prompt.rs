//! `gppylib.userinput.ask_yesno`: the `Yy|Nn (default=N):` prompt read from stdin.

use std::io::{BufRead, Write};

/// Ask `msg` and read the answer from stdin. End of input or an empty answer gives `default`;
/// anything else is asked again (like Cloudberry), up to a few times.
pub fn ask_yesno(msg: &str, default: bool) -> bool {
    let d = if default { "Y" } else { "N" };
    let stdin = std::io::stdin();
    for _ in 0..5 {
        print!("{msg} Yy|Nn (default={d}):\n> ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                println!();
                return default;
            }
            Ok(_) => {}
        }
        match line.trim() {
            "" => return default,
            "y" | "Y" | "yes" | "Yes" | "YES" => return true,
            "n" | "N" | "no" | "No" | "NO" => return false,
            _ => {}
        }
    }
    default
}
